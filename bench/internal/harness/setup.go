package harness

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Setup is what every benchmark program does first: it raises the open-file limit, makes a
// context that SIGINT and SIGTERM end, finds the control-plane binary (bin, or built from
// ./controlplane) and starts a private redis-server. done releases what Setup made; call it
// once the run is over (also when err is nil only).
func Setup(bin string) (ctx context.Context, control string, rds *Redis, done func(), err error) {
	RaiseNoFile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if control, err = ControlBinary(bin); err != nil {
		stop()
		return nil, "", nil, nil, err
	}
	if rds, err = StartRedis(ctx); err != nil {
		stop()
		return nil, "", nil, nil, err
	}
	return ctx, control, rds, func() { rds.Stop(); stop() }, nil
}
