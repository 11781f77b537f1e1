package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/moby/moby/client"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
)

// LogLine is one line of a service's output.
type LogLine struct {
	Stderr bool
	Text   string
	Time   time.Time // when the container wrote it
}

// LogOptions select a service's output.
type LogOptions struct {
	Follow bool      // keep streaming until ctx ends
	Tail   int       // start with at most this many lines from the end; 0 means all
	Since  time.Time // only lines after this time; zero means all
}

// Logs calls send with each line of the service's output, in order, until the output ends
// (or, with Follow, ctx ends) or send fails.
func (m *Manager) Logs(ctx context.Context, name string, o LogOptions, send func(LogLine) error) error {
	if err := model.ValidateName(name); err != nil {
		return invalid("name", err.Error())
	}
	if o.Tail < 0 {
		return invalid("tail", "must not be negative")
	}
	if _, err := m.store.GetService(ctx, name); err != nil {
		return err
	}
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: o.Follow}
	if o.Tail > 0 {
		opts.Tail = strconv.Itoa(o.Tail)
	}
	if !o.Since.IsZero() {
		opts.Since = o.Since.Format(time.RFC3339Nano)
	}
	rc, err := m.engine.ContainerLogs(ctx, m.containerName(name), opts)
	if err = engineErr(err, fmt.Sprintf("reading logs of service %q", name)); isNotFound(err) {
		return fmt.Errorf("service %q has no container (state MISSING; StartService recreates it): %w", name, model.ErrFailedPrecondition)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	err = demux(rc, send)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// demux splits the engine's multiplexed log stream (frames of an 8-byte header: stream,
// 3 zero bytes, big-endian length; then the payload) into lines.
func demux(r io.Reader, send func(LogLine) error) error {
	br := bufio.NewReaderSize(r, 32<<10)
	var hdr [8]byte
	var partial [4][]byte // unfinished line per stream
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return flush(partial, send)
			}
			return err
		}
		stream := hdr[0] & 3
		data := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
		if _, err := io.ReadFull(br, data); err != nil {
			return err
		}
		data = append(partial[stream], data...)
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			if err := send(parseLine(stream, data[:i])); err != nil {
				return err
			}
			data = data[i+1:]
		}
		partial[stream] = data
	}
}

func flush(partial [4][]byte, send func(LogLine) error) error {
	for s, p := range partial {
		if len(p) > 0 {
			if err := send(parseLine(byte(s), p)); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseLine splits the engine's "<RFC 3339 time> <text>" line.
func parseLine(stream byte, b []byte) LogLine {
	l := LogLine{Stderr: stream == 2, Text: string(b)}
	if ts, text, ok := bytes.Cut(b, []byte(" ")); ok {
		if t, err := time.Parse(time.RFC3339Nano, string(ts)); err == nil {
			l.Time, l.Text = t, string(text)
		}
	}
	return l
}
