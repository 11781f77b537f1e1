package e2e

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
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
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeplane/edgeplane/internal/capin"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// minRole restates README's role table ("Security") for a method "Service/Method": the
// role it needs, "open" or "agent".
func minRole(svc, method string) string {
	switch {
	case svc == "AgentService" && method == "Enroll":
		return "open"
	case svc == "AgentService":
		return "agent"
	case svc == "TokenService" || svc == "EnrollmentService" || method == "RevokeAgent" || method == "CreateService":
		return "admin"
	}
	for _, p := range []string{"Get", "List", "Query", "Tail", "Stream"} {
		if strings.HasPrefix(method, p) {
			return "viewer"
		}
	}
	return "operator"
}

// below is a token role one step short of each role (agent methods: an admin is refused).
var below = map[string]string{"viewer": "", "operator": "viewer", "admin": "operator", "agent": "admin"}

// every method of every edgeplane.v1 service, from the generated descriptors.
func edgeplaneMethods(t *testing.T) [][2]string {
	t.Helper()
	var out [][2]string
	protoregistry.GlobalFiles.RangeFilesByPackage("edgeplane.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			s := fd.Services().Get(i)
			for j := 0; j < s.Methods().Len(); j++ {
				out = append(out, [2]string{string(s.Name()), string(s.Methods().Get(j).Name())})
			}
		}
		return true
	})
	if len(out) < 40 {
		t.Fatalf("found %d methods; the generated descriptors are not all linked", len(out))
	}
	return out
}

// caFile writes the cluster CA the server at addr presents (checked against its pin) to a
// PEM file for grpcurl's -cacert.
func caFile(t *testing.T, addr, pin string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var raw [][]byte
	for _, c := range conn.ConnectionState().PeerCertificates {
		raw = append(raw, c.Raw)
	}
	host, _, _ := strings.Cut(addr, ":")
	ca, err := capin.VerifyChain(raw, pin, host)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// grpcurlTLS runs real grpcurl over TLS: method at addr with token (if any), sending data
// if not empty. It returns grpcurl's combined output and whether it succeeded.
func grpcurlTLS(t *testing.T, ca, addr, token, method, data string) (string, bool) {
	t.Helper()
	full := []string{"-cacert", ca, "-max-time", "5"}
	if token != "" {
		full = append(full, "-H", "authorization: Bearer "+token)
	}
	if data != "" {
		full = append(full, "-d", data)
	}
	out, err := exec.Command(grpcurlPath(t), append(full, addr, method)...).CombinedOutput()
	return string(out), err == nil
}

// Over real TLS, on real binaries: every method of every service refuses a caller without a
// credential (Unauthenticated) and one whose role falls short (PermissionDenied), with
// grpcurl, and a real enrolled agent certificate gets PermissionDenied everywhere but Connect;
// each refusal is an audit event.
func TestAuth_EveryServiceRefusesOverTLS(t *testing.T) {
	rds := redistest.New(t)
	cp, pin := startControlTLS(t, rds.URL(), "cp-1")
	ca := caFile(t, cp.Addr, pin)
	tokens := map[string]string{}
	for _, r := range []string{"viewer", "operator", "admin"} {
		tokens[r] = tokenCreate(t, rds.URL(), r)
	}
	refusals := 0
	for _, m := range edgeplaneMethods(t) {
		svc, method := m[0], m[1]
		need := minRole(svc, method)
		if need == "open" {
			continue
		}
		full := "edgeplane.v1." + svc + "/" + method
		run := func(token string) string {
			out, ok := grpcurlTLS(t, ca, cp.Addr, token, full, "{}")
			if ok {
				t.Errorf("%s succeeded: %s", full, out)
			}
			return out
		}
		if out := run(""); !strings.Contains(out, "Code: Unauthenticated") {
			t.Errorf("%s without a token: got %q, want Unauthenticated", full, out)
		}
		refusals++
		if r := below[need]; r != "" {
			if out := run(tokens[r]); !strings.Contains(out, "Code: PermissionDenied") {
				t.Errorf("%s as %s (needs %s): got %q, want PermissionDenied", full, r, need, out)
			}
			refusals++
		}
	}
	refusals += agentRefused(t, cp, pin)
	out, ok := grpcurlTLS(t, ca, cp.Addr, tokens["viewer"], "edgeplane.v1.RoutingService/ListRoutes", "")
	if !ok {
		t.Errorf("viewer ListRoutes: %s", out)
	}
	out, ok = grpcurlTLS(t, ca, cp.Addr, tokens["operator"], "edgeplane.v1.RoutingService/CreateRoute",
		`{"route":{"name":"web","hosts":["web.test"],"targets":[{"url":"http://127.0.0.1:9"}]}}`)
	if !ok || !strings.Contains(out, `"name": "web"`) {
		t.Errorf("operator CreateRoute: %s", out)
	}
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr})
	defer rdb.Close()
	eventually(t, 10*time.Second, func() error {
		n := 0
		msgs, err := rdb.XRange(t.Context(), "events:all:stream", "-", "+").Result()
		for _, m := range msgs {
			if m.Values["event_type"] == "audit" && m.Values["outcome"] != "OK" && m.Values["outcome"] != "ok" {
				n++
			}
		}
		if err != nil || n < refusals {
			return fmt.Errorf("%d refused-call audit events (%v), want %d", n, err, refusals)
		}
		return nil
	})
}

// The first admin token comes from `edgeplane-control token create` (Redis directly); with
// it grpcurl can make more through TokenService; `token delete` ends a token on a running
// replica within its cache time.
func TestAuth_TokenBootstrapWithGrpcurl(t *testing.T) {
	rds := redistest.New(t)
	cp, pin := startControlTLS(t, rds.URL(), "cp-1")
	ca := caFile(t, cp.Addr, pin)
	admin := tokenCreate(t, rds.URL(), "admin")
	out, ok := grpcurlTLS(t, ca, cp.Addr, admin, "edgeplane.v1.TokenService/CreateToken", `{"name":"ci","role":"operator","ttl":"3600s"}`)
	if !ok || !strings.Contains(out, `"secret": "ept_`) {
		t.Fatalf("CreateToken: %s", out)
	}
	secret := out[strings.Index(out, `"secret": "`)+len(`"secret": "`):]
	secret = secret[:strings.IndexByte(secret, '"')]
	if out, ok := grpcurlTLS(t, ca, cp.Addr, secret, "edgeplane.v1.RoutingService/ListRoutes", ""); !ok {
		t.Errorf("the new token: %s", out)
	}
	if out, ok := grpcurlTLS(t, ca, cp.Addr, admin, "edgeplane.v1.TokenService/ListTokens", ""); !ok || strings.Contains(out, "ept_") || !strings.Contains(out, `"name": "ci"`) {
		t.Errorf("ListTokens: got %s, want ci and no secret", out)
	}
	// The README's audit example: history from the start, then new events, until -max-time.
	tail, _ := grpcurlTLS(t, ca, cp.Addr, admin, "edgeplane.v1.TelemetryService/TailEvents", `{"eventTypes":["audit"],"afterId":"0"}`)
	if !strings.Contains(tail, "/edgeplane.v1.TokenService/CreateToken") || !strings.Contains(tail, `"ci"`) {
		t.Errorf("TailEvents of audit events: got %s, want CreateToken of ci", tail)
	}
	list, err := exec.Command(bins.control, "token", "list", "--redis-url", rds.URL()).Output()
	if err != nil || !strings.Contains(string(list), "ci ") || strings.Contains(string(list), "ept_") {
		t.Errorf("token list: got %q, %v", list, err)
	}
	if out, err := exec.Command(bins.control, "token", "delete", "--name", "ci", "--redis-url", rds.URL()).CombinedOutput(); err != nil {
		t.Fatalf("token delete: %v\n%s", err, out)
	}
	eventually(t, 10*time.Second, func() error {
		if out, _ := grpcurlTLS(t, ca, cp.Addr, secret, "edgeplane.v1.RoutingService/ListRoutes", ""); !strings.Contains(out, "Code: Unauthenticated") {
			return fmt.Errorf("deleted token still accepted: %s", out)
		}
		return nil
	})
}

// agentRefused enrols a real agent certificate and shows that with it every method but
// AgentService/Connect answers PermissionDenied. It returns how many calls it made.
func agentRefused(t *testing.T, cp *control, pin string) int {
	t.Helper()
	token, _ := joinToken(t, cp, 1)
	cert, err := enrol(t.Context(), cp.conn, token, "probe-1")
	if err != nil {
		t.Fatalf("enrolling: %v", err)
	}
	conn := dialTLS(t, cp.Addr, pin, cert)
	n := 0
	for _, m := range edgeplaneMethods(t) {
		if need := minRole(m[0], m[1]); need == "open" || need == "agent" {
			continue
		}
		method := "/edgeplane.v1." + m[0] + "/" + m[1]
		if err := invokeEmpty(t.Context(), conn, method); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s with an agent certificate: got %v, want PermissionDenied", method, err)
		}
		n++
	}
	return n
}

// invokeEmpty calls method with an empty message, as a stream (the refusal comes before
// any handler, so one shape serves every method).
func invokeEmpty(ctx context.Context, conn *grpc.ClientConn, method string) error {
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method)
	if err != nil {
		return err
	}
	_ = s.SendMsg(&emptypb.Empty{})
	_ = s.CloseSend()
	return s.RecvMsg(&emptypb.Empty{})
}
