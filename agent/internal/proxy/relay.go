package proxy

import (
	"bytes"
	"net/http"
	"strconv"
)

// flushAt is how much relayed output is gathered before it is written even though more
// is already buffered from the backend.
const flushAt = 16 << 10

// bodyBuffer is the read buffer of a backend connection once it has carried a body larger
// than the initial 4 KiB.
const bodyBuffer = 32 << 10

// relay writes the response in c.resp (whose head is the first headLen buffered bytes of
// bc) to the client and its body as it arrives: every piece read from the backend is
// written before the next read waits, so streaming responses (SSE) are never held back.
// bc goes back to the client's backend slots when the response ended cleanly.
func (c *Conn) relay(up *upstream, bc *bconn, headLen int) (status int, keep bool) {
	resp, req := &c.resp, &c.req
	status = resp.status
	noBody := req.method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified
	chunk := !noBody && resp.length < 0 // re-chunked to the client: chunked, or until close
	clientClose := req.close || c.draining.Load()
	b := c.composeResponse(up, chunk, clientClose)
	bc.rb.consume(headLen)
	if !noBody && (resp.length < 0 || resp.length > int64(len(bc.rb.b))) {
		bc.rb.grow(bodyBuffer) // a long body: read it in larger pieces
	}

	var err error
	done := true // the backend's response ended where HTTP framing says
	switch {
	case noBody:
		_, err = c.writeAt(b, c.fresh())
	case resp.chunked:
		b, err = c.relayChunked(bc, b)
	case resp.length < 0:
		b, err = c.relayUntilEOF(bc, b)
		done = false
	default:
		b, err = c.relayLength(bc, b, resp.length)
	}
	c.out = b[:0]
	if err == nil && done && !resp.close && len(bc.rb.buffered()) == 0 {
		c.keepBackend(bc, c.fresh())
	} else {
		bc.conn.Close()
	}
	if err != nil {
		if errBackend, ok := err.(backendError); ok {
			up.metrics.UpstreamError(kindOf(errBackend.err))
		}
		return status, false
	}
	return status, !clientClose
}

func (c *Conn) composeResponse(up *upstream, chunk, clientClose bool) []byte {
	resp := &c.resp
	b := append(c.out[:0], "HTTP/1.1 "...)
	b = append(b, resp.line...)
	b = append(b, "\r\n"...)
	drop := up.response.drop
	for i := range resp.headers {
		f := &resp.headers[i]
		switch {
		case f.act == actLength && chunk, f.act != actKeep && f.act != actLength:
			continue
		case drop != nil && dropped(drop, f.name), resp.connDrop && resp.connNamed(f.name):
			continue
		}
		b = append(b, f.line...)
		b = append(b, "\r\n"...)
	}
	b = append(b, up.response.lines...)
	b = up.appendAttempts(b, c.x.tries)
	b = appendTraceHeaders(b, &c.sc)
	if chunk {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if clientClose {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

// backendError marks an error reading from the backend (as opposed to writing to the
// client) while relaying a body.
type backendError struct{ err error }

func (e backendError) Error() string { return e.err.Error() }

// more writes out pending output b, then reads more from the backend.
func (c *Conn) more(bc *bconn, b []byte) ([]byte, error) {
	if len(b) > 0 {
		if _, err := c.write(b); err != nil {
			return b[:0], err
		}
		b = b[:0]
	}
	if err := c.fillBackend(bc, zeroTime); err != nil {
		return b, backendError{err}
	}
	return b, nil
}

func (c *Conn) relayLength(bc *bconn, b []byte, n int64) ([]byte, error) {
	for {
		avail := bc.rb.buffered()
		take := int(min(int64(len(avail)), n))
		b = append(b, avail[:take]...)
		bc.rb.consume(take)
		if n -= int64(take); n == 0 {
			_, err := c.writeAt(b, c.fresh())
			return b, err
		}
		var err error
		if b, err = c.more(bc, b); err != nil {
			return b, err
		}
	}
}

// relayChunked decodes the backend's chunked body and re-chunks each piece for the client,
// passing trailers through.
func (c *Conn) relayChunked(bc *bconn, b []byte) ([]byte, error) {
	var line []byte
	var err error
	for {
		if line, b, err = c.line(bc, b); err != nil {
			return b, err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return b, backendError{errBadResponse}
		}
		if size == 0 {
			return c.relayTrailers(bc, append(b, "0\r\n"...))
		}
		for size > 0 {
			if len(bc.rb.buffered()) == 0 {
				if b, err = c.more(bc, b); err != nil {
					return b, err
				}
			}
			avail := bc.rb.buffered()
			take := int(min(int64(len(avail)), size))
			b = appendChunk(b, avail[:take])
			bc.rb.consume(take)
			size -= int64(take)
			if len(b) >= flushAt {
				if _, err = c.write(b); err != nil {
					return b, err
				}
				b = b[:0]
			}
		}
		if line, b, err = c.line(bc, b); err != nil {
			return b, err
		} else if len(line) != 0 {
			return b, backendError{errBadResponse}
		}
	}
}

func (c *Conn) relayTrailers(bc *bconn, b []byte) ([]byte, error) {
	for {
		line, nb, err := c.line(bc, b)
		if b = nb; err != nil {
			return b, err
		}
		b = append(append(b, line...), "\r\n"...)
		if len(line) == 0 {
			_, err := c.write(b)
			return b, err
		}
	}
}

// relayUntilEOF relays a body delimited by the backend closing the connection, chunked.
func (c *Conn) relayUntilEOF(bc *bconn, b []byte) ([]byte, error) {
	for {
		if avail := bc.rb.buffered(); len(avail) > 0 {
			b = appendChunk(b, avail)
			bc.rb.consume(len(avail))
		}
		var err error
		if b, err = c.more(bc, b); err != nil {
			if be, ok := err.(backendError); ok && isEOF(be.err) {
				_, err = c.write(append(b, "0\r\n\r\n"...))
				return b, err
			}
			return b, err
		}
	}
}

// line returns the next CRLF- (or LF-) terminated line from bc without its terminator,
// writing pending output b first if it has to wait. The line is valid until the next read.
func (c *Conn) line(bc *bconn, b []byte) ([]byte, []byte, error) {
	for {
		avail := bc.rb.buffered()
		if i := bytes.IndexByte(avail, '\n'); i >= 0 {
			bc.rb.consume(i + 1)
			return bytes.TrimSuffix(avail[:i], []byte("\r")), b, nil
		}
		if len(avail) > 4096 {
			return nil, b, backendError{errBadResponse}
		}
		var err error
		if b, err = c.more(bc, b); err != nil {
			return nil, b, err
		}
	}
}

func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = trim(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	n, err := strconv.ParseInt(unsafeString(line), 16, 64)
	return n, err == nil && n >= 0
}

func appendChunk(b, data []byte) []byte {
	b = strconv.AppendInt(b, int64(len(data)), 16)
	b = append(b, "\r\n"...)
	b = append(b, data...)
	return append(b, "\r\n"...)
}
