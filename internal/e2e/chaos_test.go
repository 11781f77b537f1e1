package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/edgeplane/edgeplane/internal/redistest"
)

// The chaos suite: 3 control-plane replicas (--redis-min-replicas 1) on a Sentinel-managed
// Redis (primary, replica, 3 sentinels, AOF), 3 agents each behind a TCP proxy the suite can
// cut, steady GETs through every agent, a steady stream of route writes (and a port lease
// every 5th) round robin over the replicas. Faults run one at a time; after each heals the
// invariants are checked and measured, and a table is printed.
//
// `make test` runs the short form (three faults, 5 s partition); `make chaos`
// (EDGEPLANE_CHAOS=full) runs every fault with a 30 s partition.
func TestChaos_InvariantsHoldUnderFaults(t *testing.T) {
	full := os.Getenv("EDGEPLANE_CHAOS") == "full"
	partition := 5 * time.Second
	if full {
		partition = 30 * time.Second
	}
	e := startChaos(t)
	faults := []chaosFault{
		{"kill -9 a control-plane replica mid-write (down 3 s)", e.killReplica},
		{fmt.Sprintf("partition an agent from the control plane %v", partition), func() func() { return e.partitionAgent(partition) }},
		{"Redis failover (SENTINEL FAILOVER)", e.sentinelFailover},
	}
	if full {
		faults = append(faults,
			chaosFault{"Redis primary kill -9 and restart from its AOF", e.restartPrimary},
			chaosFault{"Redis wiped empty (FLUSHALL on the primary)", e.wipeRedis},
		)
	}
	var rows []chaosRow
	for _, f := range faults {
		rows = append(rows, e.run(t, f))
	}
	table := chaosTable(rows)
	t.Log("\n" + table)
	fmt.Println(table)
}

type chaosFault struct {
	name   string
	inject func() (heal func())
}

type chaosEnv struct {
	t       *testing.T
	s       *redistest.Sentinel
	cps     [3]*control
	agents  [3]*agent
	proxies [3]*partitionProxy
	w       *writer
	served  [3]atomic.Int64
	failed  [3]atomic.Int64
	stop    [3]func()
}

func startChaos(t *testing.T) *chaosEnv {
	e := &chaosEnv{t: t}
	e.s = redistest.NewSentinel(t, redistest.Options{Persist: true})
	url := e.s.URL()
	for i := range e.cps {
		e.cps[i] = startControl(t, url, fmt.Sprintf("cp-%d", i+1), "--redis-min-replicas", "1")
	}
	target := backend(t, "B")
	for i := range e.agents {
		e.proxies[i] = startPartitionProxy(t, e.cps[i].Addr)
		e.agents[i] = startAgent(t, e.proxies[i].Addr, fmt.Sprintf("edge-%d", i+1), t.TempDir())
	}
	eventually(t, 20*time.Second, func() error { return connected(t, e.cps[0], 3) })
	create(t, e.cps[0], route("steady", "steady.test", target))
	for i, a := range e.agents {
		a.expectServes("steady.test", "/", http.StatusOK, "B /")
		e.stop[i] = steadyTraffic(a, "steady.test", &e.served[i], &e.failed[i])
	}
	e.w = startWriter(t, target, e.cps[0], e.cps[1], e.cps[2])
	e.w.leaseEvery = 5
	return e
}

// chaosRow is one fault's measured figures.
type chaosRow struct {
	fault                string
	writes, failedWrites int
	otherCodes           int // failed writes not Unavailable
	longest              time.Duration
	served, failedReqs   int64
	converge             time.Duration // heal -> every acked write on every agent
	missing              int           // acked writes not on every agent after 5 s
	monotonic, portsOnce bool
}

func (e *chaosEnv) run(t *testing.T, f chaosFault) chaosRow {
	t.Logf("fault: %s", f.name)
	from := len(e.w.Results())
	for i := range e.served {
		e.served[i].Store(0)
		e.failed[i].Store(0)
	}
	e.w.WaitAcked(5, 60*time.Second)
	heal := f.inject()
	heal()
	healed := time.Now()
	e.w.WaitAcked(5, 60*time.Second)
	rs := e.w.Results()[from:]
	row := chaosRow{fault: f.name, writes: len(rs)}
	for _, r := range rs {
		row.longest = max(row.longest, r.took)
		if r.code != codes.OK {
			row.failedWrites++
			if r.code != codes.Unavailable {
				row.otherCodes++
			}
		}
	}
	var before []writeResult
	for _, r := range rs {
		if r.at.Before(healed) {
			before = append(before, r)
		}
	}
	row.converge, row.missing = e.converge(acked(before), healed)
	for i := range e.served {
		row.served += e.served[i].Load()
		row.failedReqs += e.failed[i].Load()
	}
	row.monotonic = monotonic(e.agents[:]...)
	row.portsOnce = portsOnce(e.w.Results())
	if row.otherCodes > 0 || row.longest > writeDeadline+500*time.Millisecond || row.failedReqs > 0 ||
		row.missing > 0 || row.converge > 5*time.Second || !row.monotonic || !row.portsOnce {
		t.Errorf("fault %q broke an invariant: %+v", f.name, row)
	}
	return row
}

// converge polls until every name is served by every agent and returns how long after
// healed that was, or how many were still missing 5 s after it (plus a grace for the
// polling itself).
func (e *chaosEnv) converge(names []string, healed time.Time) (time.Duration, int) {
	pending := map[string][]*agent{}
	for _, n := range names {
		pending[n] = e.agents[:]
	}
	deadline := healed.Add(5 * time.Second)
	for {
		for n, as := range pending {
			var left []*agent
			for _, a := range as {
				if code, _, err := a.Get(n+".test", "/"); err != nil || code != http.StatusOK {
					left = append(left, a)
				}
			}
			if len(left) == 0 {
				delete(pending, n)
			} else {
				pending[n] = left
			}
		}
		if len(pending) == 0 {
			return max(0, time.Since(healed)), 0
		}
		if time.Now().After(deadline) {
			return time.Since(healed), len(pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *chaosEnv) killReplica() func() {
	cp := e.cps[1]
	cp.Kill()
	time.Sleep(3 * time.Second) // the fault's duration
	return func() { cp.Start(); cp.WaitServing() }
}

func (e *chaosEnv) partitionAgent(d time.Duration) func() {
	p := e.proxies[2]
	p.Partition()
	time.Sleep(d) // the fault's duration
	return p.Heal
}

func (e *chaosEnv) sentinelFailover() func() {
	e.s.Failover()
	return e.s.WaitReplicated
}

func (e *chaosEnv) restartPrimary() func() {
	p := e.s.Primary()
	p.Kill()
	p.Start()
	return e.s.WaitReplicated
}

func (e *chaosEnv) wipeRedis() func() {
	p := e.s.Primary()
	if err := p.Client().FlushAll(context.Background()).Err(); err != nil {
		e.t.Fatal(err)
	}
	return func() {}
}

func monotonic(agents ...*agent) bool {
	for _, a := range agents {
		revs := appliedRevisions(a)
		for i := 1; i < len(revs); i++ {
			if revs[i] < revs[i-1] {
				return false
			}
		}
	}
	return true
}

// portsOnce: no two owners were acknowledged the same port.
func portsOnce(rs []writeResult) bool {
	owner := map[int32]string{}
	for _, r := range rs {
		if r.port == 0 || r.code != codes.OK {
			continue
		}
		if o, ok := owner[r.port]; ok && o != r.name {
			return false
		}
		owner[r.port] = r.name
	}
	return true
}

func chaosTable(rows []chaosRow) string {
	var b strings.Builder
	b.WriteString("| fault | writes | failed (all Unavailable?) | longest write | proxied requests failed / served | acked writes on every agent after heal | revisions never backwards | no port leased twice |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		unavail := "yes"
		if r.otherCodes > 0 {
			unavail = fmt.Sprintf("no: %d other", r.otherCodes)
		}
		conv := fmt.Sprintf("all, %.2f s", r.converge.Seconds())
		if r.missing > 0 {
			conv = fmt.Sprintf("%d missing after 5 s", r.missing)
		}
		fmt.Fprintf(&b, "| %s | %d | %d (%s) | %.2f s | %d / %d | %s | %s | %s |\n", r.fault, r.writes, r.failedWrites, unavail,
			r.longest.Seconds(), r.failedReqs, r.served, conv, yes(r.monotonic), yes(r.portsOnce))
	}
	return b.String()
}

func yes(ok bool) string {
	if ok {
		return "held"
	}
	return "BROKEN"
}
