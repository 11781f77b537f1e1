package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func enrollment(c *control) edgeplanev1.EnrollmentServiceClient {
	return edgeplanev1.NewEnrollmentServiceClient(c.conn)
}

func joinToken(t *testing.T, c *control, uses int32) (token, pin string) {
	t.Helper()
	res, err := enrollment(c).CreateJoinToken(t.Context(), &edgeplanev1.CreateJoinTokenRequest{
		Ttl: durationpb.New(10 * time.Minute), MaxUses: uses})
	if err != nil {
		t.Fatalf("CreateJoinToken: %v", err)
	}
	return res.GetJoinToken(), res.GetCaPin()
}

// An agent enrols with a join token and the CA pin, serves a route over its mTLS stream,
// keeps its key sealed, and after a restart reconnects with its certificate (the token is
// used up by then).
func TestEnroll_AgentServesRouteAndRestarts(t *testing.T) {
	rds := redistest.New(t)
	cp, pin := startControlTLS(t, rds.URL(), "cp-1")
	token, tokenPin := joinToken(t, cp, 1)
	if tokenPin != pin {
		t.Fatalf("CreateJoinToken's ca_pin %q differs from the one logged at start %q", tokenPin, pin)
	}
	create(t, cp, route("web", "web.test", backend(t, "web")))
	cache := t.TempDir()
	start := time.Now()
	a := startAgent(t, cp.Addr, "edge-1", cache, "--join-token", token, "--ca-pin", pin)
	a.expectServes("web.test", "/", 200, "web /")
	t.Logf("enrolment to first served request: %s", time.Since(start))

	key, err := os.ReadFile(filepath.Join(cache, "agent.key"))
	if err != nil || strings.Contains(string(key), "PRIVATE KEY") {
		t.Errorf("agent.key: %v; want it sealed, not PEM in clear", err)
	}
	// The route is served from the moment the table is swapped in; the cache is written
	// just after, before the ACK.
	eventually(t, 5*time.Second, func() error {
		for _, f := range []string{"agent.key", "agent.crt", "seal.key", "config.log"} {
			if fi, err := os.Stat(filepath.Join(cache, f)); err != nil || fi.Mode().Perm() != 0o600 {
				return fmt.Errorf("%s: %v, want mode 0600", f, err)
			}
		}
		return nil
	})
	list, err := enrollment(cp).ListJoinTokens(t.Context(), &edgeplanev1.ListJoinTokensRequest{})
	if err != nil || len(list.GetTokens()) != 0 {
		t.Errorf("ListJoinTokens after its only use: %v %v, want no live token", list, err)
	}

	a.Kill()
	a.Start()
	a.WaitListening()
	create(t, cp, route("api", "api.test", backend(t, "api")))
	a.expectServes("api.test", "/", 200, "api /")
}

// A used-up join token, an unknown one and a token without the right pin are refused, and
// the agent says why and exits.
func TestEnroll_RefusedTokens(t *testing.T) {
	rds := redistest.New(t)
	cp, pin := startControlTLS(t, rds.URL(), "cp-1")
	token, _ := joinToken(t, cp, 1)
	if _, err := enrol(t.Context(), cp.conn, token, "edge-1"); err != nil {
		t.Fatalf("first use: %v", err)
	}
	other, _ := joinToken(t, cp, 1)
	if _, err := enrol(t.Context(), cp.conn, other, "edge-1"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("an open token for a node that enrolled before: got %v, want PermissionDenied", err)
	}
	for name, tok := range map[string]string{"reused": token, "unknown": "abcdef.0123456789abcdef01234567"} {
		t.Run(name, func(t *testing.T) {
			_, err := enrol(t.Context(), cp.conn, tok, "edge-2")
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("Enroll: got %v, want PermissionDenied", err)
			}
			p := startProc(t, "agent-"+name, bins.agent, "--control-plane", cp.Addr, "--node-id", "edge-2", "--join-token", tok,
				"--ca-pin", pin, "--cache-dir", t.TempDir(), "--http-addr", freeAddr(t), "--https-addr", "-",
				"--metrics-addr", freeAddr(t), "--log-format", "json")
			if code := p.ExitCode(20 * time.Second); code <= 0 {
				t.Errorf("agent with a %s token: exit code %d, want a failure", name, code)
			}
		})
	}
	t.Run("wrong pin", func(t *testing.T) {
		tok, _ := joinToken(t, cp, 1)
		p := startProc(t, "agent-pin", bins.agent, "--control-plane", cp.Addr, "--node-id", "edge-3", "--join-token", tok,
			"--ca-pin", "sha256:"+strings.Repeat("ab", 32), "--cache-dir", t.TempDir(), "--http-addr", freeAddr(t),
			"--https-addr", "-", "--metrics-addr", freeAddr(t), "--log-format", "json")
		eventually(t, 20*time.Second, func() error {
			if len(p.LogsContaining("enrolment failed; retrying", "CA pin")) == 0 {
				return errNotYet
			}
			return nil
		})
		// The token was never spent: the agent did not talk to a CA it could not pin.
		if _, err := enrol(t.Context(), cp.conn, tok, "edge-3"); err != nil {
			t.Errorf("token after a pin mismatch: %v, want it unused", err)
		}
	})
}

// firstMessage opens Connect as hello's node and returns the first message or the error.
func firstMessage(ctx context.Context, conn *grpc.ClientConn, node string) (*edgeplanev1.ControlMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := edgeplanev1.NewAgentServiceClient(conn).Connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Send(&edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Hello{Hello: &edgeplanev1.Hello{NodeId: node}}}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return st.Recv()
}

// Forged agents get nothing: no certificate, a certificate from another CA, and a valid
// certificate whose Hello names another node.
func TestEnroll_ForgedAgentsGetNothing(t *testing.T) {
	rds := redistest.New(t)
	cp, pin := startControlTLS(t, rds.URL(), "cp-1")
	create(t, cp, route("web", "web.test", backend(t, "web")))
	token, _ := joinToken(t, cp, 1)
	cert, err := enrol(t.Context(), cp.conn, token, "edge-2")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		conn *grpc.ClientConn
		node string
		want codes.Code
	}{
		{"no certificate", dialTLS(t, cp.Addr, pin, nil), "edge-1", codes.Unauthenticated},
		{"another CA", dialTLS(t, cp.Addr, pin, foreignCert(t, "edge-1")), "edge-1", codes.Unavailable},
		{"another node id", dialTLS(t, cp.Addr, pin, cert), "edge-1", codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := firstMessage(t.Context(), tt.conn, tt.node)
			if err == nil {
				t.Fatalf("got %v, want no message at all", msg)
			}
			if status.Code(err) != tt.want {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
	// The genuine certificate, speaking for its own node, gets its settings and config.
	msg, err := firstMessage(t.Context(), dialTLS(t, cp.Addr, pin, cert), "edge-2")
	if err != nil || msg.GetSettings() == nil {
		t.Fatalf("edge-2 as itself: %v %v, want its AgentSettings first", msg, err)
	}
}

// Revocation ends a connected agent's stream within a second on another replica, and its
// certificate and Redis user are refused afterwards.
func TestEnroll_RevokeAgent(t *testing.T) {
	rds := redistest.New(t)
	cp1, pin := startControlTLS(t, rds.URL(), "cp-1")
	cp2, _ := startControlTLS(t, rds.URL(), "cp-2")
	token, _ := joinToken(t, cp1, 1)
	cert, err := enrol(t.Context(), cp1.conn, token, "edge-2")
	if err != nil {
		t.Fatal(err)
	}
	conn := dialTLS(t, cp2.Addr, pin, cert)
	st, err := edgeplanev1.NewAgentServiceClient(conn).Connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Hello{Hello: &edgeplanev1.Hello{NodeId: "edge-2"}}}); err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil || first.GetSettings() == nil {
		t.Fatalf("first message: %v %v", first, err)
	}
	redisURL := first.GetSettings().GetTelemetry().GetRedisUrl()
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := st.Recv(); err != nil {
				ended <- err
				return
			}
		}
	}()
	if _, err := cp1.Fleet().RevokeAgent(t.Context(), &edgeplanev1.RevokeAgentRequest{NodeId: "edge-2"}); err != nil {
		t.Fatalf("RevokeAgent: %v", err)
	}
	revoked := time.Now()
	select {
	case err := <-ended:
		t.Logf("revocation to stream end on another replica: %s (%v)", time.Since(revoked), err)
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("stream ended with %v, want PermissionDenied", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the revoked agent's stream is still open a second after RevokeAgent")
	}
	for _, cp := range []*control{cp1, cp2} {
		if msg, err := firstMessage(t.Context(), dialTLS(t, cp.Addr, pin, cert), "edge-2"); status.Code(err) != codes.PermissionDenied {
			t.Errorf("reconnect after revocation to %s: %v %v, want PermissionDenied", cp.name, msg, err)
		}
	}
	u, _ := url.Parse(redisURL)
	c := redis.NewClient(&redis.Options{Addr: u.Host, Username: u.User.Username(), Password: func() string { p, _ := u.User.Password(); return p }()})
	defer c.Close()
	if err := c.XAdd(t.Context(), &redis.XAddArgs{Stream: "logs:request:stream", Values: []any{"k", "v"}}).Err(); err == nil {
		t.Error("the revoked agent's Redis user still works")
	}
}

// An agent's Redis user may XADD to the request stream and do nothing else.
func TestEnroll_AgentRedisUserIsXADDOnly(t *testing.T) {
	rds := redistest.New(t)
	cp, pin := startControlTLS(t, rds.URL(), "cp-1")
	ts, _, c := agentRedis(t, cp, pin, "edge-9")
	ctx := t.Context()
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: ts.GetRequestStream(), MaxLen: 100, Approx: true, Values: []any{"k", "v"}}).Err(); err != nil {
		t.Fatalf("XADD to its stream: %v", err)
	}
	refused := map[string]func() error{
		"GET":    func() error { return c.Get(ctx, keyspace.New("").Revision()).Err() },
		"KEYS":   func() error { return c.Keys(ctx, "*").Err() },
		"XRANGE": func() error { return c.XRange(ctx, ts.GetRequestStream(), "-", "+").Err() },
		"XADD another stream": func() error {
			return c.XAdd(ctx, &redis.XAddArgs{Stream: "events:all:stream", Values: []any{"k", "v"}}).Err()
		},
		"FLUSHALL": func() error { return c.FlushAll(ctx).Err() },
		"ACL":      func() error { return c.Do(ctx, "ACL", "LIST").Err() },
	}
	for name, fn := range refused {
		if err := fn(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%s: got %v, want NOPERM", name, err)
		}
	}
}

// An agent renews its certificate over the stream before it expires, and reconnects with the
// renewed one after the first has expired.
func TestEnroll_AgentRenewsItsCertificate(t *testing.T) {
	rds := redistest.New(t)
	cp, pin := startControlTLS(t, rds.URL(), "cp-1", "--agent-cert-lifetime", "6s")
	token, _ := joinToken(t, cp, 1)
	create(t, cp, route("web", "web.test", backend(t, "web")))
	cache := t.TempDir()
	a := startAgent(t, cp.Addr, "edge-1", cache, "--join-token", token, "--ca-pin", pin)
	a.expectServes("web.test", "/", 200, "web /")
	first, err := os.ReadFile(filepath.Join(cache, "agent.crt"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if len(a.Logs("certificate renewed")) == 0 {
			return errNotYet
		}
		return nil
	})
	renewed, _ := os.ReadFile(filepath.Join(cache, "agent.crt"))
	if string(renewed) == string(first) {
		t.Fatal("agent.crt unchanged after the renewal")
	}
	// Once the first certificate has expired, a restarted agent still gets in.
	eventually(t, 20*time.Second, func() error {
		if len(a.Logs("certificate renewed")) < 2 {
			return errNotYet
		}
		return nil
	})
	a.Kill()
	a.Start()
	a.WaitListening()
	create(t, cp, route("api", "api.test", backend(t, "api")))
	a.expectServes("api.test", "/", 200, "api /")
}

// openStream connects as node with the connection's certificate and returns the stream once
// its first message arrived, with a channel that receives the error ending it.
func openStream(t *testing.T, conn *grpc.ClientConn, node string) (<-chan error, error) {
	t.Helper()
	st, err := edgeplanev1.NewAgentServiceClient(conn).Connect(t.Context())
	if err != nil {
		return nil, err
	}
	if err := st.Send(&edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Hello{Hello: &edgeplanev1.Hello{NodeId: node}}}); err != nil {
		return nil, err
	}
	if _, err := st.Recv(); err != nil {
		return nil, err
	}
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := st.Recv(); err != nil {
				ended <- err
				return
			}
		}
	}()
	return ended, nil
}

// Two streams of one identity: the newer wins with the same or a later certificate; with an
// older certificate the newer stream is refused.
func TestEnroll_DuplicateIdentity(t *testing.T) {
	rds := redistest.New(t)
	cp, pin := startControlTLS(t, rds.URL(), "cp-1")
	res, err := enrollment(cp).CreateJoinToken(t.Context(), &edgeplanev1.CreateJoinTokenRequest{MaxUses: 2, NodeId: "edge-5"})
	if err != nil {
		t.Fatal(err)
	}
	token := res.GetJoinToken()
	older, err := enrol(t.Context(), cp.conn, token, "edge-5")
	if err != nil {
		t.Fatal(err)
	}
	issued := older.Leaf
	if issued == nil {
		issued, _ = x509.ParseCertificate(older.Certificate[0])
	}
	eventually(t, 5*time.Second, func() error { // certificates are dated to the second
		if time.Now().Unix() <= issued.NotBefore.Unix() {
			return errNotYet
		}
		return nil
	})
	newer, err := enrol(t.Context(), cp.conn, token, "edge-5")
	if err != nil {
		t.Fatal(err)
	}
	first, err := openStream(t, dialTLS(t, cp.Addr, pin, older), "edge-5")
	if err != nil {
		t.Fatal(err)
	}
	second, err := openStream(t, dialTLS(t, cp.Addr, pin, older), "edge-5")
	if err != nil {
		t.Fatalf("same certificate again: %v, want it to win", err)
	}
	if err := <-first; err == nil {
		t.Error("the first stream ended without an error")
	}
	third, err := openStream(t, dialTLS(t, cp.Addr, pin, newer), "edge-5")
	if err != nil {
		t.Fatalf("renewed certificate: %v, want it to win", err)
	}
	<-second
	if _, err := openStream(t, dialTLS(t, cp.Addr, pin, older), "edge-5"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("older certificate while the newer is connected: got %v, want PermissionDenied", err)
	}
	select {
	case err := <-third:
		t.Errorf("the newer stream ended: %v", err)
	default:
	}
}

// The README's TLS examples: fetch the CA, check its pin with openssl, then make, list and
// delete join tokens and revoke an agent with grpcurl -cacert.
func TestEnroll_GrpcurlWithCACert(t *testing.T) {
	bin := grpcurlPath(t)
	rds := redistest.New(t)
	httpAddr := freeAddr(t)
	cp, pin := startControlTLS(t, rds.URL(), "cp-1", "--http-addr", httpAddr)
	res, err := http.Get("http://" + httpAddr + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.Header.Get("X-Edgeplane-CA-Pin") != pin {
		t.Errorf("/ca.pem pin header %q, want %q", res.Header.Get("X-Edgeplane-CA-Pin"), pin)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", "openssl x509 -in "+ca+" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum").CombinedOutput()
	if err != nil || "sha256:"+strings.Fields(string(out))[0] != pin {
		t.Errorf("openssl pin: %s %v, want %s", out, err, pin)
	}
	run := func(args ...string) string {
		t.Helper()
		pre := []string{"-cacert", ca}
		if cp.token != "" {
			pre = append(pre, "-H", "authorization: Bearer "+cp.token)
		}
		out, err := exec.Command(bin, append(pre, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	created := run("-d", `{"ttl":"600s","maxUses":1,"labels":{"region":"eu"}}`, cp.Addr, "edgeplane.v1.EnrollmentService/CreateJoinToken")
	if !strings.Contains(created, `"joinToken"`) || !strings.Contains(created, pin) {
		t.Fatalf("CreateJoinToken: %s, want a token and the pin", created)
	}
	var body struct {
		JoinToken string `json:"joinToken"`
	}
	if err := json.Unmarshal([]byte(created), &body); err != nil {
		t.Fatal(err)
	}
	id, _, _ := strings.Cut(body.JoinToken, ".")
	list := run(cp.Addr, "edgeplane.v1.EnrollmentService/ListJoinTokens")
	if !strings.Contains(list, `"id": "`+id+`"`) || strings.Contains(list, body.JoinToken) {
		t.Errorf("ListJoinTokens: %s, want token %s listed without its secret", list, id)
	}
	run("-d", `{"id":"`+id+`"}`, cp.Addr, "edgeplane.v1.EnrollmentService/DeleteJoinToken")
	if revoked := run("-d", `{"nodeId":"edge-1"}`, cp.Addr, "edgeplane.v1.FleetService/RevokeAgent"); !strings.Contains(revoked, "revokeTime") {
		t.Errorf("RevokeAgent: %s", revoked)
	}
	if out, err := exec.Command(bin, "-plaintext", cp.Addr, "list").CombinedOutput(); err == nil {
		t.Errorf("grpcurl -plaintext against TLS: got %s, want a failure", out)
	}
}

// The control plane refuses at start what would expose plaintext gRPC or could not keep the
// CA's key, saying what to pass.
func TestControl_RefusesInsecureStarts(t *testing.T) {
	rds := redistest.New(t)
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.key")
	if err := os.WriteFile(loose, []byte(strings.Repeat("ab", 32)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	port := freeAddr(t)[len("127.0.0.1:"):]
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"plaintext off loopback", []string{"--insecure", "--grpc-addr", "0.0.0.0:" + port}, "not a loopback address"},
		{"dev off loopback", []string{"--dev", "--grpc-addr", "0.0.0.0:" + port}, "not a loopback address"},
		{"TLS without a secrets key", []string{"--grpc-addr", "127.0.0.1:" + port}, "--secrets-key-file"},
		{"a secrets key others can read", []string{"--grpc-addr", "127.0.0.1:" + port, "--secrets-key-file", loose}, "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--redis-url", rds.URL(), "--http-addr", "-"}, tt.args...)
			out, err := exec.Command(bins.control, args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.want) {
				t.Errorf("got %v %s, want a failed start saying %q", err, out, tt.want)
			}
		})
	}
}

// Across replicas: an agent's newer stream ends its older one on another replica, and once
// the node connected with a renewed certificate the older certificate is refused everywhere.
func TestEnroll_DuplicateIdentityAcrossReplicas(t *testing.T) {
	rds := redistest.New(t)
	cp1, pin := startControlTLS(t, rds.URL(), "cp-1")
	cp2, _ := startControlTLS(t, rds.URL(), "cp-2")
	res, err := enrollment(cp1).CreateJoinToken(t.Context(), &edgeplanev1.CreateJoinTokenRequest{MaxUses: 2, NodeId: "edge-6"})
	if err != nil {
		t.Fatal(err)
	}
	older, err := enrol(t.Context(), cp1.conn, res.GetJoinToken(), "edge-6")
	if err != nil {
		t.Fatal(err)
	}
	first, err := openStream(t, dialTLS(t, cp1.Addr, pin, older), "edge-6")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openStream(t, dialTLS(t, cp2.Addr, pin, older), "edge-6"); err != nil {
		t.Fatalf("the same certificate on another replica: %v, want it to win", err)
	}
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the older stream on cp-1 is still open after the agent connected to cp-2")
	}
	leaf, _ := x509.ParseCertificate(older.Certificate[0])
	eventually(t, 5*time.Second, func() error { // certificates are dated to the second
		if time.Now().Unix() <= leaf.NotBefore.Unix() {
			return errNotYet
		}
		return nil
	})
	newer, err := enrol(t.Context(), cp1.conn, res.GetJoinToken(), "edge-6")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openStream(t, dialTLS(t, cp2.Addr, pin, newer), "edge-6"); err != nil {
		t.Fatalf("renewed certificate: %v", err)
	}
	if _, err := openStream(t, dialTLS(t, cp1.Addr, pin, older), "edge-6"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("the older certificate on the other replica after the renewal: got %v, want PermissionDenied", err)
	}
}

// agentRedis enrols node and returns the telemetry settings its stream starts with, the
// parsed Redis URL in them and a client that logs in as the agent's own Redis user (what the
// agent itself does: HELLO, AUTH, CLIENT SETINFO on connect).
func agentRedis(t *testing.T, cp *control, pin, node string) (*edgeplanev1.TelemetrySettings, *url.URL, *redis.Client) {
	t.Helper()
	token, _ := joinToken(t, cp, 1)
	cert, err := enrol(t.Context(), cp.conn, token, node)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := firstMessage(t.Context(), dialTLS(t, cp.Addr, pin, cert), node)
	if err != nil {
		t.Fatal(err)
	}
	ts := msg.GetSettings().GetTelemetry()
	u, err := url.Parse(ts.GetRedisUrl())
	if err != nil || u.User == nil {
		t.Fatalf("agent Redis URL %q: %v, want one with credentials", ts.GetRedisUrl(), err)
	}
	opt, err := redis.ParseURL(ts.GetRedisUrl())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return ts, u, c
}
