package redistest

import "testing"

// After a failover the promoted server is restarted (kill -9, then start with its AOF): it
// comes back in the role the sentinels gave it, and the pair replicates again.
func TestSentinel_RestartedPrimaryKeepsItsRoleAfterFailover(t *testing.T) {
	s := NewSentinel(t, Options{Persist: true})
	s.Failover()
	p := s.Primary()
	p.Kill()
	p.Start()
	s.WaitReplicated()
}
