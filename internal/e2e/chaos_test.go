package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
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
	e := startChaos(t, full)
	faults := []chaosFault{
		{"kill -9 a control-plane replica mid-write (down 3 s)", e.killReplica, false, codes.OK, ""},
		{fmt.Sprintf("partition an agent from the control plane %v", partition), func() func() { return e.partitionAgent(partition) }, false, codes.OK, ""},
		{"Redis failover (SENTINEL FAILOVER)", e.sentinelFailover, false, codes.OK, failoverMetrics},
	}
	if full {
		faults = append(faults,
			chaosFault{"Redis primary kill -9 and restart from its AOF", e.restartPrimary, false, codes.OK, ""},
		)
		if e.disk != "" {
			faults = append(faults, chaosFault{"an agent's disk full (cache directory, 5 s)", e.diskFull, false, codes.OK, ""})
		}
		if e.net != nil {
			faults = append(faults, chaosFault{"partition a control-plane replica from Redis 10s",
				func() func() { return e.partitionReplicaFromRedis(10 * time.Second) }, false, codes.OK, ""})
		}
		faults = append(faults,
			chaosFault{"one replica's clock 5 minutes ahead (fault hook, 10 s)", e.skewClock, false, codes.OK, ""},
			chaosFault{"together: agent partitioned 10s + Redis failover + replica kill -9", e.together, false, codes.OK, failoverMetrics},
			chaosFault{"Redis wiped empty (FLUSHALL on the primary)", e.wipeRedis, false, codes.OK, ""})
	}
	if only := os.Getenv("EDGEPLANE_CHAOS_ONLY"); only != "" { // faults by words of their names, "|" between
		faults = slices.DeleteFunc(faults, func(f chaosFault) bool {
			return !slices.ContainsFunc(strings.Split(only, "|"), func(w string) bool { return strings.Contains(f.name, w) })
		})
	}
	var rows []chaosRow
	for k, f := range faults {
		rows = append(rows, e.run(t, k+1, f))
	}
	table := e.hosts + "\n\n" + chaosTable(rows)
	t.Log("\n" + table)
	if path := os.Getenv("EDGEPLANE_CHAOS_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

type chaosFault struct {
	name   string
	inject func() (heal func())
	// losesLeases: the fault destroys port leases (a wiped Redis: replicas put back the
	// config they hold in memory, not the leases), so a port may be leased again; the table
	// shows it, the suite does not fail on it.
	losesLeases bool
	// knownCode: writes may fail with this code instead of Unavailable, a known break the
	// table shows and the suite does not fail on: DeadlineExceeded (at the client's deadline)
	// through a replica cut from Redis, Unauthenticated after a wipe took the admin token.
	knownCode codes.Code
	// metricsKnown, when set, says why GetMetrics may count fewer requests than answered in
	// this fault: a break the table shows as known, the suite does not fail on it.
	metricsKnown string
}

// failoverMetrics: no longer a known break. make chaos had GetMetrics count about two
// thirds of the failover faults' requests (2572 of 4096, ...): not the failover (the agents
// publish to the telemetry Redis, which Sentinel does not manage; the failover alone counts
// exactly), but the 1000-series cap of a 10 s metrics window, filled by the previous fault's
// missing check (one GET per acknowledged route, thousands after the 30 s partition), which
// put the metered host's first window under "(other)". meter.exact counts that overflow, exactly.
const failoverMetrics = ""

// convergeBound is how long after a fault heals every agent must have applied the last
// acknowledged write: the 5 s (the agents' reconnection ceiling is 2 s).
const convergeBound = 5 * time.Second

type chaosEnv struct {
	t       *testing.T
	s       *redistest.Sentinel
	cps     [3]*control
	agents  [3]*agent
	net     *chaosNet          // the hosts' network namespaces; nil in the fallback
	hosts   string             // how the hosts run, for the table
	pin     string             // the replicas' CA pin (TLS in namespaces)
	admin   *adminBearer       // the test's admin token (TLS in namespaces)
	proxies [3]*partitionProxy // the fallback's partitions (no namespaces)
	w       *writer
	served  [3]atomic.Int64
	failed  [3]atomic.Int64
	stop    [3]func()
	meter   *meter
	disk    string // edge-1's cache directory on a small tmpfs, "" if none
}

func startChaos(t *testing.T, full bool) *chaosEnv {
	e := &chaosEnv{t: t}
	n, err := newChaosNet(t)
	if err != nil {
		// Not a silent pass: the table says the hosts were processes on loopback.
		t.Logf("chaos: no network namespaces (%v): hosts are processes on loopback, partitions are TCP proxies", err)
		e.hosts = fmt.Sprintf("hosts: processes on loopback, partitions by TCP proxies (no network namespaces: %v); the replica-from-Redis partition is not run", err)
	} else {
		e.net = n
		e.hosts = "hosts: one network namespace each (3 replicas, 3 agents, Redis), made by the test on " + n.subnet + "0/24; partitions are iptables DROP inside a namespace"
	}
	var target string
	if e.net != nil {
		redisIP := e.net.addHost("redis", 10)
		e.s = redistest.NewSentinel(t, redistest.Options{Persist: true, Host: redisIP, Wrap: e.net.wrap("redis")})
		tel := redistest.NewWithOptions(t, redistest.Options{Host: redisIP, Wrap: e.net.wrap("redis")})
		e.admin = &adminBearer{}
		e.admin.set(tokenCreate(t, e.s.URL(), "admin"))
		for i := range e.cps {
			host := fmt.Sprintf("cp-%d", i+1)
			e.net.addHost(host, 11+i)
			e.cps[i], e.pin = startNetControl(t, e.net, host, e.s.URL(), e.admin, "--redis-min-replicas", "1", "--telemetry-redis-url", tel.URL())
		}
		target = netBackend(t, e.net, "B")
	} else {
		e.s = redistest.NewSentinel(t, redistest.Options{Persist: true})
		tel := redistest.New(t)
		for i := range e.cps {
			e.cps[i] = startControl(t, e.s.URL(), fmt.Sprintf("cp-%d", i+1), "--redis-min-replicas", "1",
				"--telemetry-redis-url", tel.URL(), "--agent-redis-url", tel.URL())
		}
		target = backend(t, "B")
	}
	if full {
		e.disk = smallDisk(t)
	}
	for i := range e.agents {
		cache := t.TempDir()
		if i == 0 && e.disk != "" {
			cache = e.disk
		}
		node := fmt.Sprintf("edge-%d", i+1)
		if e.net != nil {
			e.net.addHost(node, 21+i)
			token, _ := joinToken(t, e.cps[0], 1)
			e.agents[i] = startNetAgent(t, e.net, node, e.cps[i].Addr, cache, "--join-token", token, "--ca-pin", e.pin)
			continue
		}
		e.proxies[i] = startPartitionProxy(t, e.cps[i].Addr)
		e.agents[i] = startAgent(t, e.proxies[i].Addr, node, cache)
	}
	eventually(t, 20*time.Second, func() error { return connected(t, e.cps[0], 3) })
	steady := route("steady", "steady.test", target)
	steady.Hosts = append(steady.Hosts, "*.metered.test")
	create(t, e.cps[0], steady)
	create(t, e.cps[0], route("between", betweenHost, target)) // the metered traffic between faults (meter.next)
	e.meter = newMeter()
	for i, a := range e.agents {
		a.expectServes("steady.test", "/", http.StatusOK, "B /")
		e.stop[i] = e.meter.traffic(a, &e.served[i], &e.failed[i])
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
	known                int // of which the fault's knownCode
	metricsKnown         string
	knownCode            codes.Code
	ackedRoutes          int
	longest              time.Duration
	served, failedReqs   int64
	converge             time.Duration // heal -> every agent applied the last write acked before it
	missing              int           // (route, agent) pairs acked but not served afterwards
	monotonic, portsOnce bool
	losesLeases          bool
	counted, answered    int64 // GetMetrics' count of the fault's requests, and the clients' answers
	overflow             int64 // GetMetrics' count under "(other)" with the metered route (meter.exact)
}

func (e *chaosEnv) run(t *testing.T, k int, f chaosFault) chaosRow {
	t.Logf("fault: %s", f.name)
	host, start := e.meter.next(k), time.Now()
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
	row := chaosRow{fault: f.name, writes: len(rs), losesLeases: f.losesLeases, knownCode: f.knownCode, metricsKnown: f.metricsKnown}
	for _, r := range rs {
		row.longest = max(row.longest, r.took)
		if r.code != codes.OK {
			row.failedWrites++
			if r.code != codes.Unavailable {
				row.otherCodes++
			}
			if f.knownCode != codes.OK && r.code == f.knownCode {
				row.known++
			}
		}
	}
	var maxRev int64
	for _, r := range rs {
		if r.at.Before(healed) && r.code == codes.OK {
			maxRev = max(maxRev, r.rev)
		}
	}
	row.converge = e.converge(maxRev, healed)
	for _, r := range rs {
		if r.code == codes.OK {
			maxRev = max(maxRev, r.rev)
		}
	}
	e.converge(maxRev, healed) // the writes acknowledged after the heal too, before counting
	row.ackedRoutes = len(acked(rs))
	row.missing = e.missing(acked(rs))
	for i := range e.served {
		row.served += e.served[i].Load()
		row.failedReqs += e.failed[i].Load()
	}
	e.meter.next(0) // the next fault's traffic is counted apart
	row.counted, row.overflow, row.answered = e.meter.exact(e, e.cps[0], host, time.Since(start)+time.Minute)
	metricsHeld := row.counted+row.overflow == row.answered
	row.monotonic = monotonic(e.agents[:]...)
	row.portsOnce = portsOnce(e.w.Results())
	if row.otherCodes > row.known || row.longest > writeDeadline+500*time.Millisecond || row.failedReqs > 0 ||
		row.missing > 0 || row.converge > convergeBound || !row.monotonic ||
		(!metricsHeld && !f.losesLeases && f.metricsKnown == "") || (!row.portsOnce && !f.losesLeases) {
		t.Errorf("fault %q broke an invariant: %+v", f.name, row)
	}
	return row
}

// converge waits until every agent has applied rev (the last acknowledged before healed)
// and returns how long after healed that was (0 if before); it gives up after 30 s.
func (e *chaosEnv) converge(rev int64, healed time.Time) time.Duration {
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := true
		for _, a := range e.agents {
			revs := appliedRevisions(a)
			if len(revs) == 0 || revs[len(revs)-1] < rev {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			return max(0, time.Since(healed))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// missing counts the acknowledged routes some agent does not serve (one GET per route and
// agent, the agents in parallel).
func (e *chaosEnv) missing(names []string) int {
	var n atomic.Int64
	var wg sync.WaitGroup
	for _, a := range e.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, name := range names {
				if code, _, err := a.Get(name+".test", "/"); err != nil || code != http.StatusOK {
					if n.Add(1) <= 5 {
						e.t.Logf("%s does not serve acknowledged %s: %d %v", a.Node, name, code, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	return int(n.Load())
}

func (e *chaosEnv) killReplica() func() {
	cp := e.cps[1]
	cp.Kill()
	time.Sleep(3 * time.Second) // the fault's duration
	return func() { cp.Start(); cp.WaitServing() }
}

func (e *chaosEnv) partitionAgent(d time.Duration) func() {
	heal := e.cutAgent(2)
	time.Sleep(d) // the fault's duration
	return heal
}

// cutAgent partitions agent i from every control-plane replica (its namespace drops their
// packets; in the fallback its proxy cuts) and returns the heal.
func (e *chaosEnv) cutAgent(i int) (heal func()) {
	if e.net == nil {
		e.proxies[i].Partition()
		return e.proxies[i].Heal
	}
	var cps []string
	for _, cp := range e.cps {
		host, _, _ := net.SplitHostPort(cp.Addr)
		cps = append(cps, host)
	}
	e.net.cut(e.agents[i].Node, cps...)
	return func() { e.net.heal(e.agents[i].Node) }
}

// partitionReplicaFromRedis cuts cp-2 from the Redis host (primary, replica and sentinels)
// for d: its writes fail Unavailable within their deadline, the other replicas carry on,
// its agent keeps serving what it has; after the heal it catches up.
func (e *chaosEnv) partitionReplicaFromRedis(d time.Duration) func() {
	e.net.cut("cp-2", e.net.hosts["redis"])
	time.Sleep(d) // the fault's duration
	return func() { e.net.heal("cp-2") }
}

// skewClock restarts cp-3 with its wall clock 5 minutes ahead for 10 s of writes, then
// restarts it on the right time. The skew is a fault hook (EDGEPLANE_FAULT_CLOCK_OFFSET, see
// controlplane/internal/clock): no real per-process clock skew can be made here (Go reads
// the clock through the vDSO, out of libfaketime's reach, and time namespaces do not offset
// CLOCK_REALTIME). Leases, revisions (the changelog's order) and agents' state are checked by
// the invariants as after every fault; a route written through cp-3 must carry its clock.
func (e *chaosEnv) skewClock() func() {
	cp := e.cps[2]
	bin, args := cp.bin, cp.args
	cp.Kill()
	cp.bin, cp.args = "env", append([]string{"EDGEPLANE_FAULT_CLOCK_OFFSET=5m", bin}, args...)
	cp.Start()
	cp.WaitServing()
	res, err := cp.Routes().CreateRoute(e.t.Context(), &edgeplanev1.CreateRouteRequest{Route: route("skew-probe", "skew-probe.test", "http://127.0.0.1:1")})
	if err != nil {
		e.t.Errorf("a write through the skewed replica: %v", err)
	} else if ahead := time.Until(res.GetRoute().GetUpdateTime().AsTime()); ahead < 4*time.Minute {
		e.t.Errorf("the skewed replica's route is stamped %v ahead, want about 5m: the fault hook is not in effect", ahead)
	} else {
		e.t.Logf("a route written through the skewed replica is stamped %.0f s ahead", ahead.Seconds())
	}
	time.Sleep(10 * time.Second) // the fault's duration
	return func() {
		cp.Kill()
		cp.bin, cp.args = bin, args
		cp.Start()
		cp.WaitServing()
	}
}

// together: agent edge-3 partitioned from the control plane, a Sentinel failover and cp-2
// killed -9, all at once; after 10 s all heal together.
func (e *chaosEnv) together() func() {
	healAgent := e.cutAgent(2)
	cp := e.cps[1]
	cp.Kill()
	e.s.Failover()
	time.Sleep(10 * time.Second) // the fault's duration
	return func() {
		healAgent()
		cp.Start()
		cp.WaitServing()
		e.s.WaitReplicated()
	}
}

func (e *chaosEnv) diskFull() func() {
	heal := fillDisk(e.t, e.disk)
	time.Sleep(5 * time.Second) // the fault's duration
	return heal
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
	if e.admin == nil {
		return func() {}
	}
	// The admin token went with the data (writes fail Unauthenticated until then): the heal
	// is the operator making a new one.
	return func() { e.admin.set(tokenCreate(e.t, e.s.URL(), "admin")) }
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
	b.WriteString("| fault | writes | failed (all Unavailable?) | longest write | proxied requests failed / served | acked writes on every agent after heal | revisions never backwards | metrics count exact (GetMetrics / answered) | no port leased twice |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		unavail := "yes"
		if r.otherCodes > 0 {
			unavail = fmt.Sprintf("no: %d other", r.otherCodes)
		}
		if r.known > 0 && r.known == r.otherCodes {
			unavail = fmt.Sprintf("BROKEN, known: %d %v", r.known, r.knownCode)
		}
		conv := fmt.Sprintf("all %d, applied %.2f s after heal", r.ackedRoutes, r.converge.Seconds())
		if r.missing > 0 {
			conv = fmt.Sprintf("%d of %d missing", r.missing, 3*r.ackedRoutes)
		}
		metrics := fmt.Sprintf("%s (%d / %d)", yes(r.counted == r.answered), r.counted, r.answered)
		if r.overflow > 0 && r.counted+r.overflow == r.answered {
			metrics = fmt.Sprintf("held (%d / %d; %d of them under \"(other)\": the window's 1000-series cap)", r.counted+r.overflow, r.answered, r.overflow)
		}
		if r.counted != r.answered && r.losesLeases {
			metrics = fmt.Sprintf("BROKEN, known: the records went with the data (%d / %d)", r.counted, r.answered)
		}
		if r.counted != r.answered && r.metricsKnown != "" {
			metrics = fmt.Sprintf("BROKEN (%d / %d), %s", r.counted, r.answered, r.metricsKnown)
		}
		fmt.Fprintf(&b, "| %s | %d | %d (%s) | %.2f s | %d / %d | %s | %s | %s | %s |\n", r.fault, r.writes, r.failedWrites, unavail,
			r.longest.Seconds(), r.failedReqs, r.served, conv, yes(r.monotonic), metrics, ports(r))
	}
	return b.String()
}

func ports(r chaosRow) string {
	if !r.portsOnce && r.losesLeases {
		return "BROKEN (known: the leases went with the data; restore them from a backup)"
	}
	return yes(r.portsOnce)
}

func yes(ok bool) string {
	if ok {
		return "held"
	}
	return "BROKEN"
}
