package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// The HTTP edge (docs/architecture.md, "The HTTP edge"): what the server reads before
// any route has looked at a request, and how it answers what it cannot
// read. Nothing a client sends before it is authenticated may cost more
// than these bounds.
const (
	// maxHeaderBytes bounds the request line and headers together
	// (fasthttp's read buffer); more is a 431.
	maxHeaderBytes = 8 << 10
	// maxFormBody is the largest form the browser routes take (sign-in,
	// sign-out, the preference switches).
	maxFormBody = 4 << 10
	// readTimeout bounds reading one request, headers and body.
	readTimeout = 15 * time.Second
	// maxConcurrentConns bounds the connections served at once; each holds
	// at most one read buffer and one body.
	maxConcurrentConns = 1024
)

// hstsValue is sent on every answer to a request that came over HTTPS.
const hstsValue = "max-age=63072000; includeSubDomains"

// tuneServer sets fasthttp's own limits deliberately rather than leaving
// the library's defaults, and makes vitals, not fasthttp, answer what the
// parser cannot read. Fiber builds the server in fiber.New; Listener and
// Test serve with it as it is left here.
func (s *server) tuneServer(srv *fasthttp.Server) {
	srv.ReadBufferSize = maxHeaderBytes
	srv.MaxRequestBodySize = MaxBatchBody
	srv.ReadTimeout = readTimeout
	srv.Concurrency = maxConcurrentConns
	// A multipart body is never parsed while it is read: no route takes one.
	srv.DisablePreParseMultipartForm = true
	srv.ErrorHandler = s.parseError
}

// parseError answers a request the HTTP parser refused (bad framing, a
// malformed header, too large). fasthttp's own answer quotes the request,
// credentials included; this one says only what kind of problem it was,
// as problem+json with the security headers. fasthttp closes the
// connection afterwards.
func (s *server) parseError(ctx *fasthttp.RequestCtx, err error) {
	status, detail := fiber.StatusBadRequest, "the request could not be read as HTTP/1.1"
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.As(err, &small):
		status, detail = fiber.StatusRequestHeaderFieldsTooLarge, "the request's headers are too large"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, detail = fiber.StatusRequestEntityTooLarge, "request body is too large"
	case errors.As(err, &netErr) && netErr.Timeout(), strings.Contains(err.Error(), "timeout"):
		status, detail = fiber.StatusRequestTimeout, "the request was not sent in time"
	}
	ctx.Response.Reset()
	setSecurityHeaders(&ctx.Response.Header, ctx.IsTLS())
	body, _ := json.Marshal(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}) // plain strings always encode
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/problem+json")
	ctx.SetBody(body)
	ctx.SetConnectionClose()
}

// setSecurityHeaders sets the headers every response carries. The policy
// allows no inline script or style: the page needs neither.
func setSecurityHeaders(h *fasthttp.ResponseHeader, https bool) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if https {
		h.Set("Strict-Transport-Security", hstsValue)
	}
}

// securityHeaders sets the security headers on every answer a route gives.
func (s *server) securityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(&c.Response().Header, s.overHTTPS(c))
	return c.Next()
}

// overHTTPS reports whether the request reached vitals over TLS: directly,
// or through a trusted proxy (VITALS_TRUST_PROXY) that says so. Unlike the
// cookies' Secure flag, HSTS binds the browser for years, so an untrusted
// header does not turn it on.
func (s *server) overHTTPS(c *fiber.Ctx) bool {
	return c.Context().IsTLS() || s.TrustProxy && strings.EqualFold(strings.TrimSpace(c.Get(fiber.HeaderXForwardedProto)), "https")
}

// ingestPath is the one route that takes an encoded body.
const ingestPath = "/api/v1/events"

// edgeChecks refuses, before any route or credential check, what no route
// takes: framing a front end could read differently (request smuggling),
// and encoded bodies anywhere but on ingest. A framing problem also closes
// the connection, so that nothing after it on the stream is read as a
// request.
func (s *server) edgeChecks(c *fiber.Ctx) error {
	if msg := framingProblem(c.Request().Header.RawHeaders()); msg != "" {
		c.Context().SetConnectionClose()
		return newProblem(fiber.StatusBadRequest, msg)
	}
	var encodings int
	var encoding []byte
	c.Request().Header.VisitAll(func(k, v []byte) {
		if bytes.EqualFold(k, []byte(fiber.HeaderContentEncoding)) {
			encodings++
			encoding = v
		}
	})
	if encodings > 0 {
		ingest := c.Method() == fiber.MethodPost && c.Path() == ingestPath
		switch {
		case !ingest:
			return newProblem(fiber.StatusUnsupportedMediaType, "Content-Encoding is accepted only on POST "+ingestPath)
		case encodings > 1 || !bytes.EqualFold(bytes.TrimSpace(encoding), []byte("gzip")):
			return newProblem(fiber.StatusUnsupportedMediaType, "the only Content-Encoding accepted is one layer of gzip")
		}
	}
	return c.Next()
}

// framingProblem checks the raw header lines for framing that is not
// exactly one Content-Length or exactly "Transfer-Encoding: chunked".
// fasthttp reads any Transfer-Encoding but identity as chunked and lets
// one win over Content-Length; a front end framing by the other would see
// a different request boundary. It returns the problem's words, empty
// when the framing is sound.
func framingProblem(raw []byte) string {
	var te, cl int
	var teValue []byte
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		name, value, ok := bytes.Cut(bytes.TrimRight(line, "\r"), []byte(":"))
		if !ok {
			continue
		}
		switch {
		case bytes.EqualFold(bytes.TrimSpace(name), []byte("Transfer-Encoding")):
			te++
			teValue = bytes.TrimSpace(value)
		case bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")):
			cl++
		}
	}
	switch {
	case te > 0 && cl > 0:
		return "a request may carry Content-Length or Transfer-Encoding, not both"
	case te > 1 || te == 1 && !bytes.Equal(teValue, []byte("chunked")):
		return "the only Transfer-Encoding accepted is exactly \"chunked\""
	case cl > 1:
		return "a request may carry one Content-Length"
	}
	return ""
}

const formLocal = "vitals.form"

// smallForm reads the body of a browser form route: only
// application/x-www-form-urlencoded (415 otherwise, before anything is
// parsed), at most maxFormBody bytes (413), never encoded. The fields are
// kept for formValue.
func smallForm(c *fiber.Ctx) error {
	body := c.Request().Body() // raw: fiber's c.Body() would decompress
	if ct := c.Get(fiber.HeaderContentType); ct != "" || len(body) > 0 {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != fiber.MIMEApplicationForm || !onlyUTF8Charset(params) {
			return newProblem(fiber.StatusUnsupportedMediaType, "send the form as application/x-www-form-urlencoded")
		}
	}
	if len(body) > maxFormBody {
		return newProblem(fiber.StatusRequestEntityTooLarge, "the form is larger than 4 KiB")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return newProblem(fiber.StatusBadRequest, "the form is not valid application/x-www-form-urlencoded")
	}
	c.Locals(formLocal, form)
	return c.Next()
}

// onlyUTF8Charset reports whether a media type's parameters are at most
// charset=utf-8.
func onlyUTF8Charset(params map[string]string) bool {
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

// formValue is a field of the form smallForm read, empty when absent.
func formValue(c *fiber.Ctx, key string) string {
	form, _ := c.Locals(formLocal).(url.Values)
	return form.Get(key)
}
