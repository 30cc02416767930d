#!/usr/bin/env bash
# deploy.sh: a deploy script written for Amazon ECS (register a task
# definition, point the service at it, wait until it is stable), run
# unchanged against Orch with the stock AWS CLI:
#
#   eval "$(orch aws-env)"       # AWS_ENDPOINT_URL, region and keys
#   AWS="aws --endpoint-url $AWS_ENDPOINT_URL" ./deploy.sh web orch-example/web:latest
#
# Usage: deploy.sh SERVICE IMAGE [DESIRED]
# Environment: AWS (the aws command, default "aws"), CLUSTER (default
# "default"), VERSION (put in the containers' environment; a new value
# registers a new revision).
set -euo pipefail

service=${1:?usage: deploy.sh SERVICE IMAGE [DESIRED]}
image=${2:?usage: deploy.sh SERVICE IMAGE [DESIRED]}
desired=${3:-2}
version=${VERSION:-1}
cluster=${CLUSTER:-default}
aws=${AWS:-aws}

taskdef=$(cat <<JSON
{
  "family": "$service",
  "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
  "containerDefinitions": [{
    "name": "$service",
    "image": "$image",
    "memory": 64,
    "essential": true,
    "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
    "environment": [{"name": "VERSION", "value": "$version"}]
  }]
}
JSON
)

arn=$($aws ecs register-task-definition --cli-input-json "$taskdef" \
  --query 'taskDefinition.taskDefinitionArn' --output text)
echo "registered $arn"

status=$($aws ecs describe-services --cluster "$cluster" --services "$service" \
  --query 'services[0].status' --output text)
if [ "$status" = "ACTIVE" ]; then
  $aws ecs update-service --cluster "$cluster" --service "$service" \
    --task-definition "$arn" --desired-count "$desired" --force-new-deployment >/dev/null
  echo "updated $service to $arn"
else
  $aws ecs create-service --cluster "$cluster" --service-name "$service" \
    --task-definition "$arn" --desired-count "$desired" \
    --deployment-configuration maximumPercent=200,minimumHealthyPercent=50 >/dev/null
  echo "created $service with $arn"
fi

$aws ecs wait services-stable --cluster "$cluster" --services "$service"
$aws ecs describe-services --cluster "$cluster" --services "$service" \
  --query 'services[0].[serviceName,taskDefinition,runningCount,desiredCount]' --output text
