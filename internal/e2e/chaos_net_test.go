package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/edgeplane/edgeplane/internal/capin"
)

// chaosNet is the chaos suite's network: every host (each control-plane replica, each
// agent, the Redis servers and sentinels together) in a network namespace of its own, made
// by the test, with an address on a private /24. The hosts' veths meet on a bridge inside
// one more namespace (the switch), so nothing of the machine's own firewall (Docker's
// FORWARD DROP) is in the way and nothing but one veth is added to the root namespace: the
// test process's uplink, x.x.x.1, through which the test drives the hosts and where the
// backends listen. A partition is iptables DROP in the partitioned host's namespace, both
// ways: packets vanish, as on a real network (no RST, no refused connection), and TCP
// connections open across the partition resume when it heals.
//
// Names carry the test process's pid (epchaos-<pid>-<host>): the cleanup deletes them even
// after a failed test, and a later run deletes those of a run that was killed before its
// cleanup (its pid gone). Each run holds a lock on its /24 (10.213.N.0/24) while it lasts.
type chaosNet struct {
	t      *testing.T
	prefix string // namespace names: prefix + host
	subnet string // "10.213.N."
	uplink string // the root namespace's veth
	hosts  map[string]string
}

const chaosNetPrefix = "epchaos-"

// newChaosNet makes the switch namespace and the uplink, or says why it cannot (not root,
// no ip or iptables, namespaces not allowed); the suite then falls back to TCP proxies.
func newChaosNet(t *testing.T) (*chaosNet, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("not root")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("no %s: %w", tool, err)
		}
	}
	sweepChaosNets()
	n := &chaosNet{t: t, prefix: fmt.Sprintf("%s%d-", chaosNetPrefix, os.Getpid()), hosts: map[string]string{}}
	n.uplink = fmt.Sprintf("epc%d", os.Getpid())
	subnet, unlock, err := lockSubnet()
	if err != nil {
		return nil, err
	}
	n.subnet = subnet
	t.Cleanup(func() {
		n.remove()
		unlock()
	})
	sw := n.prefix + "sw"
	steps := [][]string{
		{"netns", "add", sw},
		{"-n", sw, "link", "set", "lo", "up"},
		{"-n", sw, "link", "add", "br0", "type", "bridge"},
		{"-n", sw, "link", "set", "br0", "up"},
		{"link", "add", n.uplink, "type", "veth", "peer", "name", "uplink", "netns", sw},
		{"-n", sw, "link", "set", "uplink", "master", "br0", "up"},
		{"addr", "add", subnet + "1/24", "dev", n.uplink},
		{"link", "set", n.uplink, "up"},
	}
	for _, s := range steps {
		if err := run("ip", s...); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// lockSubnet picks a /24 no other run holds and no route of this machine uses.
func lockSubnet() (string, func(), error) {
	routes, err := exec.Command("ip", "-4", "route").Output()
	if err != nil {
		return "", nil, fmt.Errorf("ip route: %w", err)
	}
	for i := 1; i < 255; i++ {
		subnet := fmt.Sprintf("10.213.%d.", i)
		if strings.Contains(string(routes), subnet) {
			continue
		}
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "edgeplane-chaos-"+subnet+"lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return "", nil, err
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue
		}
		return subnet, func() { f.Close() }, nil
	}
	return "", nil, errors.New("no free /24 in 10.213.0.0/16")
}

// sweepChaosNets deletes the namespaces of runs whose process is gone.
func sweepChaosNets() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(line, " ")
		rest, ok := strings.CutPrefix(name, chaosNetPrefix)
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if _, err := os.Stat("/proc/" + pid); err != nil {
			_ = exec.Command("ip", "netns", "del", name).Run()
			_ = exec.Command("ip", "link", "del", "epc"+pid).Run()
		}
	}
}

// remove deletes every namespace of this run (the veths go with them) and the uplink. It
// runs after the processes' cleanups (registered later, run earlier).
func (n *chaosNet) remove() {
	for h := range n.hosts {
		if err := run("ip", "netns", "del", n.prefix+h); err != nil {
			n.t.Errorf("chaos net cleanup: %v", err)
		}
	}
	if err := run("ip", "netns", "del", n.prefix+"sw"); err != nil {
		n.t.Errorf("chaos net cleanup: %v", err)
	}
	_ = exec.Command("ip", "link", "del", n.uplink).Run() // gone with the switch already
}

// addHost makes host's namespace with address subnet+octet and returns the address.
func (n *chaosNet) addHost(host string, octet int) string {
	n.t.Helper()
	ns, sw, ip := n.prefix+host, n.prefix+"sw", n.subnet+strconv.Itoa(octet)
	n.hosts[host] = ip
	steps := [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		{"link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", host, "netns", sw},
		{"-n", sw, "link", "set", host, "master", "br0", "up"},
		{"-n", ns, "addr", "add", ip + "/24", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if err := run("ip", s...); err != nil {
			n.t.Fatal(err)
		}
	}
	return ip
}

// wrap is the command prefix that runs a binary inside host's namespace (ip execs it in
// place: same pid, so signals and Pdeathsig reach it).
func (n *chaosNet) wrap(host string) []string {
	return []string{"ip", "netns", "exec", n.prefix + host}
}

// cut drops every packet between host and the peers' addresses, both ways, in host's
// namespace, until heal.
func (n *chaosNet) cut(host string, peers ...string) {
	n.t.Helper()
	for _, p := range peers {
		for _, rule := range [][]string{{"-I", "INPUT", "-s", p, "-j", "DROP"}, {"-I", "OUTPUT", "-d", p, "-j", "DROP"}} {
			if err := run("ip", append([]string{"netns", "exec", n.prefix + host, "iptables"}, rule...)...); err != nil {
				n.t.Fatal(err)
			}
		}
	}
}

// heal removes host's DROP rules.
func (n *chaosNet) heal(host string) {
	n.t.Helper()
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		if err := run("ip", "netns", "exec", n.prefix+host, "iptables", "-F", chain); err != nil {
			n.t.Fatal(err)
		}
	}
}

func run(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// startNetControl starts a control-plane replica inside host's namespace, serving TLS on
// ip:7000 (plaintext gRPC is allowed on loopback only), with the args of startControlTLS;
// every replica seals the CA with the same key, so they share it. The test's calls carry
// token (admin). It returns the replica and the CA pin it logs.
func startNetControl(t *testing.T, n *chaosNet, host, redisURL string, token *adminBearer, extra ...string) (*control, string) {
	t.Helper()
	key := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(key, bytes.Repeat([]byte("p"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(n.hosts[host], "7000")
	args := append(n.wrap(host)[1:], bins.control, "--redis-url", redisURL, "--grpc-addr", addr, "--http-addr", "-",
		"--secrets-key-file", key, "--replica-id", host, "--log-format", "json", "--log-level", "debug")
	args = append(args, extra...)
	c := &control{proc: startProc(t, host, "ip", args...), Addr: addr}
	var pin string
	eventually(t, 20*time.Second, func() error {
		for _, l := range c.proc.Lines() {
			if p, ok := l["ca_pin"].(string); ok {
				pin = p
				return nil
			}
		}
		return errNotYet
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := capin.VerifyChain(raw, pin, n.hosts[host])
			return err
		}})), grpc.WithPerRPCCredentials(token))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c.conn = conn
	c.WaitServing()
	return c, pin
}

// adminBearer is the suite's admin token, sent on every call; a wiped Redis loses it, and the
// wipe's heal makes a new one (as an operator would) and swaps it in.
type adminBearer struct{ secret atomic.Pointer[string] }

func (b *adminBearer) set(secret string) { b.secret.Store(&secret) }

func (b *adminBearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + *b.secret.Load()}, nil
}

func (*adminBearer) RequireTransportSecurity() bool { return true }

// startNetAgent starts an agent inside host's namespace (the args of startAgent), its proxy
// on ip:8080; extra are its enrolment flags.
func startNetAgent(t *testing.T, n *chaosNet, host, cpAddr, cacheDir string, extra ...string) *agent {
	t.Helper()
	ip := n.hosts[host]
	addr := net.JoinHostPort(ip, "8080")
	args := append(n.wrap(host)[1:], bins.agent, "--control-plane", cpAddr, "--node-id", host, "--http-addr", addr,
		"--https-addr", net.JoinHostPort(ip, "8443"), "--metrics-addr", net.JoinHostPort(ip, "9100"), "--cache-dir", cacheDir,
		"--log-format", "json", "--labels", "zone=test")
	args = append(args, extra...)
	a := &agent{proc: startProc(t, host, "ip", args...), Node: host, Addr: addr}
	a.WaitListening()
	return a
}

// netBackend starts an HTTP backend on the test's uplink address, reachable from every
// namespace (it answers "<name> <path>", as backend does).
func netBackend(t *testing.T, n *chaosNet, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", n.subnet+"1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
