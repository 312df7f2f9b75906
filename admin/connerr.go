package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// net/http answers some requests by itself, before any handler runs, in
// plain text: headers over MaxHeaderBytes (431), a malformed request line,
// header or Host (400), an unknown transfer encoding (501), an HTTP version
// it does not speak (505), an Expect other than 100-continue (417, empty
// body). jsonErrorListener wraps the admin listener so that these answers,
// too, are {"error","code"} JSON like every other error: its connections
// recognize net/http's own error writes (a single Write of a fixed shape no
// handler answer has) and write the JSON answer instead.
type jsonErrorListener struct {
	net.Listener
	s *Server
}

// Accept wraps the accepted connection.
func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c, s: l.s}, nil
}

// jsonErrorConn rewrites net/http's plain-text error answers as JSON.
type jsonErrorConn struct {
	net.Conn
	s *Server
}

// Write passes p on, unless it is one of net/http's own error answers,
// which is replaced by its JSON form (reporting p as written).
func (c *jsonErrorConn) Write(p []byte) (int, error) {
	status, detail, ok := parsePlainError(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(c.s.plainErrorAnswer(status, detail)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite half-closes the connection as net/http does after a 431, so
// that the client reads the answer instead of a reset.
func (c *jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// net/http's error answers: "HTTP/1.1 <status line>" + plainErrorHeaders +
// "<body>" in one write (server.go, conn.serve), and the 417 of an
// unsupported Expect written by the response writer without a body.
const (
	plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	expectationFailed = "HTTP/1.1 417 Expectation Failed\r\n"
)

// parsePlainError recognizes one of net/http's own error answers and
// returns its status and detail ("malformed Host header"; may be empty).
func parsePlainError(p []byte) (status int, detail string, ok bool) {
	rest, found := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !found || len(rest) < 4 || rest[3] != ' ' {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(rest[:3]))
	if err != nil || status < 400 {
		return 0, "", false
	}
	if bytes.HasPrefix(p, []byte(expectationFailed)) && bytes.Contains(p, []byte("\r\nContent-Length: 0\r\n")) &&
		bytes.HasSuffix(p, []byte("\r\n\r\n")) {
		return status, "only \"Expect: 100-continue\" is supported", true
	}
	line, _, found := bytes.Cut(rest, []byte("\r\n"))
	if !found || !bytes.HasPrefix(rest[len(line):], []byte(plainErrorHeaders)) {
		return 0, "", false
	}
	_, d, _ := bytes.Cut(line, []byte(": "))
	if status == http.StatusNotImplemented {
		d = []byte("unsupported transfer encoding")
	}
	return status, string(d), true
}

// plainErrorAnswer is the JSON answer that replaces net/http's own; it is
// counted in vox_admin_requests_total (route "unparsed") and logged at
// debug level.
func (s *Server) plainErrorAnswer(status int, detail string) []byte {
	var e ErrorResponse
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		e = ErrorResponse{Code: CodeHeaderTooLarge,
			Error: fmt.Sprintf("the request's header is larger than %d bytes", s.cfg.MaxHeaderBytes)}
	case http.StatusBadRequest:
		e = ErrorResponse{Code: CodeMalformedRequest, Error: "malformed HTTP request"}
	case http.StatusExpectationFailed:
		e = ErrorResponse{Code: CodeUnsupportedProtocol, Error: "unsupported Expect header"}
	default:
		e = ErrorResponse{Code: CodeUnsupportedProtocol, Error: "unsupported HTTP request"}
	}
	if detail != "" && status != http.StatusRequestHeaderFieldsTooLarge {
		e.Error += ": " + detail
	}
	body, _ := json.Marshal(e) // two strings: cannot fail
	body = append(body, '\n')
	s.metrics.GetOrCreateCounter(fmt.Sprintf(`vox_admin_requests_total{route="unparsed",method="other",status="%d"}`, status)).Inc()
	s.log.Debug("admin request refused by net/http", "status", status, "code", e.Code, "detail", detail)
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: %d\r\n"+
		"Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}
