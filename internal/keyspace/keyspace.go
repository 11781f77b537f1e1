// Package keyspace declares every Redis key, stream, pub/sub channel, consumer group and
// Redis ACL user name edgeplane uses, and applies the namespace to them in one place: a
// reader finds the whole schema here, and no other package builds a key by hand.
//
// It lives in internal/ rather than under controlplane/ because both binaries need it: the
// agent publishes its request records to the request stream (and defaults to its name when
// the control plane sends none), and the benchmarks read the streams. It imports nothing
// but the standard library, so the agent stays thin.
//
// Two families of keys share one namespace (Space):
//
//   - State keys (state.go): "{<namespace>}:<name>". They share one hash tag, so every
//     config script is atomic on Redis Cluster.
//   - Telemetry keys (telemetry.go): the streams operators query ("logs:all:stream", ...)
//     under the stream prefix, and keys derived from a stream's name (its dead-letter stream,
//     its metrics counters and trace index, hash-tagged by the stream's name so a script may
//     touch the stream and them together), and the alert state ("<prefix>{alerts}:...").
//
// The stream prefix is empty in the default namespace, which keeps the stream names
// operators of the system this replaces already query; any other namespace prefixes them
// with "<namespace>:" unless a prefix is given (WithStreamPrefix). So every key starts with
// the namespace (after the hash tag's "{"), except the default namespace's telemetry keys.
package keyspace

// DefaultNamespace is the namespace when none is configured.
const DefaultNamespace = "edgeplane"

// Space names one installation's keys. The zero Space is not valid; use New.
type Space struct {
	ns      string // the namespace
	state   string // "{ns}:", the start of every state key
	streams string // the start of every telemetry stream's name
}

// New returns the keys of namespace ("" is DefaultNamespace).
func New(namespace string) Space {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	s := Space{ns: namespace, state: "{" + namespace + "}:"}
	if namespace != DefaultNamespace {
		s.streams = namespace + ":"
	}
	return s
}

// WithStreamPrefix returns s with the telemetry streams' names starting with prefix (e.g.
// "edge:"); "" keeps s's own.
func (s Space) WithStreamPrefix(prefix string) Space {
	if prefix != "" {
		s.streams = prefix
	}
	return s
}

// Namespace returns the namespace.
func (s Space) Namespace() string { return s.ns }

// StreamPrefix returns the start of every telemetry stream's name ("" in the default
// namespace).
func (s Space) StreamPrefix() string { return s.streams }
