package keyspace

import "strconv"

// GroupSearch is the consumer group on the request stream that wrote the log search index
// before the metrics group's one pass took that over. It is no longer read; the trimmer
// destroys it once idle, and the name stays so that it can.
const GroupSearch = "search"

// SearchPrefix starts every log search index key of stream.
func SearchPrefix(stream string) string { return "{" + stream + "}:f:" }

// SearchPostings is a string of log search postings: stream's entries of the bucket starting
// at startMs (unix ms) that have term, a field's short name and a value or shard ("s:503",
// "h:3f"; see telemetry.SearchIndex).
func SearchPostings(stream string, startMs int64, term string) string {
	return SearchPrefix(stream) + strconv.FormatInt(startMs, 10) + ":" + term
}
