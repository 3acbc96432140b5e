package liveconf

import "context"

type keepFailedKey struct{}

// KeepFailed marks ctx so that a part which validates but cannot start (its
// port is taken, ferryd lacks the privilege for a port below 1024) is kept as
// desired state, recorded and shown as failed: <reason>, instead of refused.
// The first-boot batch runs so: the appliance's defaults (syslog on 514, the
// console on 8443) stay configured on a host where they cannot bind yet, and
// come up at the first start that can bind them. An operator's command is
// refused instead, and changes nothing.
func KeepFailed(ctx context.Context) context.Context {
	return context.WithValue(ctx, keepFailedKey{}, true)
}

// KeepsFailed reports whether ctx was marked by KeepFailed.
func KeepsFailed(ctx context.Context) bool {
	v, _ := ctx.Value(keepFailedKey{}).(bool)
	return v
}
