package store

// The confdb bucket tree. Keep this comment current: it is the on-disk contract.
//
//	meta/
//	  schema_version   decimal ASCII, the last migration applied
//	  created_at       RFC 3339, first boot
//	  bootstrapped_at  RFC 3339, set once the bootstrap batch succeeded
//	  local_ca_at      RFC 3339, set once first boot created the local CA files
//	  forwarder_guid   forwarder.setGuid (UTF-8; unset: the host name)
//	  sentry_guid      sentry.setGuid (UTF-8; unset: the forwarder's)
//	accounts/
//	  <name>           JSON Account (password_hash is a secret)
//	hostkeys/
//	  <algorithm>      OpenSSH PEM private key (secret; the whole bucket)
//	keystores/                  (since version 2)
//	  <alias>          JSON Keystore (password is sealed with secret.key; left out of export)
//	httpd/                      (since version 2)
//	  <port>           JSON Binding, the port in decimal
//	inputs/                     (since version 3)
//	  <name>           JSON Input: a syslog or SNMP trap receiver
//	outputs/                    (since version 4)
//	  <name>           JSON Output: a destination (discard, file, base, pair)
//	routes/                     (since version 4)
//	  <input>\x00<dest> JSON Route
//	filters/                    (since version 5)
//	  <name>           JSON Filter
//	history/
//	  <account>/       one sub-bucket per account
//	    <seq>          8-byte big-endian sequence -> command line
//
// Values are JSON so that later fields can be added without a migration;
// a migration is needed only when a key or a bucket moves.

var (
	bucketMeta      = []byte("meta")
	bucketAccounts  = []byte("accounts")
	bucketHostKeys  = []byte("hostkeys")
	bucketHistory   = []byte("history")
	bucketKeystores = []byte("keystores")
	bucketBindings  = []byte("httpd")
	bucketInputs    = []byte("inputs")
	bucketOutputs   = []byte("outputs")
	bucketRoutes    = []byte("routes")
	bucketFilters   = []byte("filters")

	keySchemaVersion  = []byte("schema_version")
	keyCreatedAt      = []byte("created_at")
	keyBootstrappedAt = []byte("bootstrapped_at")
)

// baseBuckets are the buckets every confdb of at least version since has.
var baseBuckets = []struct {
	name  []byte
	since int
}{
	{bucketMeta, 1}, {bucketAccounts, 1}, {bucketHostKeys, 1}, {bucketHistory, 1},
	{bucketKeystores, 2}, {bucketBindings, 2}, {bucketInputs, 3}, {bucketOutputs, 4}, {bucketRoutes, 4}, {bucketFilters, 5},
}

// exportSpec says how a top-level bucket appears in confdb.export.
type exportSpec struct {
	bucket []byte
	// skip leaves the bucket out entirely: secrets or per-user state.
	skip bool
	// redact names JSON fields removed from every record.
	redact []string
}

// exported lists every top-level bucket; Export refuses to run if a bucket
// exists that is not listed, so a new bucket cannot leak secrets by accident.
var exported = []exportSpec{
	{bucket: bucketMeta},
	{bucket: bucketAccounts, redact: []string{"password_hash"}},
	{bucket: bucketHostKeys, skip: true},
	{bucket: bucketHistory, skip: true},
	{bucket: bucketKeystores, redact: []string{"password"}},
	{bucket: bucketBindings},
	{bucket: bucketInputs, redact: []string{"community"}},
	{bucket: bucketOutputs},
	{bucket: bucketRoutes},
	{bucket: bucketFilters},
}
