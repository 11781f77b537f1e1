package app

import (
	"testing"
)

// Every method of every service the control plane registers is in the access table, so
// none is left open by accident (the table denies what it does not know, so a missing
// method would be unusable rather than open; this test says which one).
func TestAccessTable_CoversEveryRegisteredMethod(t *testing.T) {
	a, err := New(Config{Dev: true, GRPCAddr: "127.0.0.1:0", HTTPAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.grpcLn.Close(); a.closeAll() })
	n := 0
	for svc, info := range a.grpc.GetServiceInfo() {
		for _, m := range info.Methods {
			method := "/" + svc + "/" + m.Name
			if _, ok := a.policy.Rule(method); !ok {
				t.Errorf("%s is registered but not in the access table (auth/policy.go)", method)
			}
			n++
		}
	}
	if _, ok := a.grpc.GetServiceInfo()["edgeplane.v1.TokenService"]; !ok || n < 35 {
		t.Errorf("%d methods registered, TokenService among them: %v; want every service", n, ok)
	}
}

func TestNew_RefusesAnUnknownDockerCreateRole(t *testing.T) {
	_, err := New(Config{Dev: true, GRPCAddr: "127.0.0.1:0", HTTPAddr: "-", Auth: AuthConfig{DockerCreateRole: "viewer"}})
	if err == nil {
		t.Fatal("got no error")
	}
}
