package awsproto

import "testing"

func TestMutating(t *testing.T) {
	for action, want := range map[string]bool{
		"sqs:CreateQueue": true, "sqs:DeleteQueue": true, "sqs:PurgeQueue": true, "sqs:SetQueueAttributes": true, "sqs:TagQueue": true,
		"sns:CreateTopic": true, "sns:Subscribe": true, "sns:Unsubscribe": true, "sns:ConfirmSubscription": true,
		"lambda:CreateFunction": true, "lambda:UpdateFunctionCode": true, "lambda:DeleteEventSourceMapping": true, "lambda:PutFunctionConcurrency": true,
		"ecs:RegisterTaskDefinition": true, "ecs:RunTask": true, "ecs:StopTask": true, "ecs:UpdateService": true,
		"application-autoscaling:PutScalingPolicy": true, "application-autoscaling:DeregisterScalableTarget": true,
		"lambda:Unknown": true, // an unknown call counts as a write
		// Reads.
		"sqs:GetQueueUrl": false, "sqs:ListQueues": false, "sns:GetTopicAttributes": false, "lambda:GetFunction": false,
		"lambda:ListFunctions": false, "ecs:DescribeTasks": false, "application-autoscaling:DescribeScalingPolicies": false,
		// The data plane.
		"sqs:SendMessage": false, "sqs:SendMessageBatch": false, "sqs:ReceiveMessage": false, "sqs:DeleteMessage": false,
		"sqs:DeleteMessageBatch": false, "sqs:ChangeMessageVisibility": false, "sqs:ChangeMessageVisibilityBatch": false,
		"sns:Publish": false, "sns:PublishBatch": false, "lambda:InvokeFunction": false,
		"": false, // no verified call
	} {
		if got := Mutating(action); got != want {
			t.Errorf("Mutating(%q) = %v, want %v", action, got, want)
		}
	}
}
