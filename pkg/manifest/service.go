package manifest

import (
	"reflect"

	"github.com/orch-project/orch/pkg/model"
)

// KindService is the kind of ECS-style services (CreateService's input).
const KindService = "Service"

// ServiceKind reads services.
var ServiceKind = Kind{Name: KindService, Decode: decodeService}

// serviceSchema lists the CreateService fields Orch accepts but does not act
// on, and the fields DescribeServices adds (dropped). Source: the ECS API
// reference for CreateService, DeploymentConfiguration and Service.
var serviceSchema = Schema{
	reflect.TypeFor[model.Service](): {
		Ignored: []string{
			"cluster", "loadBalancers", "serviceRegistries", "launchType", "capacityProviderStrategy",
			"platformVersion", "role", "clientToken", "networkConfiguration", "schedulingStrategy",
			"deploymentController", "enableECSManagedTags", "propagateTags", "enableExecuteCommand",
			"serviceConnectConfiguration", "volumeConfigurations", "vpcLatticeConfigurations",
			"availabilityZoneRebalancing",
		},
		ReadOnly: []string{
			"serviceArn", "clusterArn", "status", "createdAt", "createdBy", "deployments", "events",
			"runningCount", "pendingCount", "healthyCount", "taskSets", "roleArn",
			"steady", "restartBackoff", "scaling", // Orch's own output
		},
	},
	reflect.TypeFor[model.DeploymentConfiguration](): {
		Ignored: []string{"alarms", "strategy", "bakeTimeInMinutes", "lifecycleHooks", "canaryConfiguration", "linearConfiguration"},
	},
}

// decodeService decodes and validates a Service document. Whether its task
// definition exists is checked by the server when it is applied.
func decodeService(b *Body) (any, string, error) {
	svc := new(model.Service)
	_ = b.Decode(svc, serviceSchema) // problems are recorded in b
	if n := b.Field("schedulingStrategy"); n != nil && n.Value == "DAEMON" {
		b.Errorf("schedulingStrategy", "DAEMON is not supported; Orch services are REPLICA (use desiredCount with a distinctInstance constraint for one task per node)")
	}
	return svc, svc.ServiceName, svc.Validate()
}
