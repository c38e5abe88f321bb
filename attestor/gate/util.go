package gate

import (
	ita1 "github.com/in-toto/attestation/go/v1"
)

// slsa1ResourceDescriptor reads annotations of a resource descriptor.
type slsa1ResourceDescriptor struct{ *ita1.ResourceDescriptor }

func wrap(rds []*ita1.ResourceDescriptor) []*slsa1ResourceDescriptor {
	out := make([]*slsa1ResourceDescriptor, len(rds))
	for i, rd := range rds {
		out[i] = &slsa1ResourceDescriptor{rd}
	}
	return out
}

func (rd *slsa1ResourceDescriptor) annotation(key string) string {
	v := rd.GetAnnotations().GetFields()[key]
	return v.GetStringValue()
}
