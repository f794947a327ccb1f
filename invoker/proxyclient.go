package invoker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// proxyClient speaks the action-proxy protocol (/init, /run) over HTTP.
type proxyClient struct {
	http *http.Client
	// maxResult is the largest response body read in full; more is truncated.
	maxResult int
}

func newProxyClient(maxResult int) *proxyClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &proxyClient{http: &http.Client{Transport: tr}, maxResult: maxResult}
}

// proxyResponse is what a proxy answered.
type proxyResponse struct {
	Status int
	Body   []byte
	// Truncated is set when the body was longer than maxResult; Length is then
	// the full length as far as it is known.
	Truncated bool
	Length    int
}

// errConnection marks failures to get any answer from the proxy.
var errConnection = errors.New("no response from the action proxy")

// init POSTs /init, retrying connection-refused every 50 ms until ctx ends
// (the container may still be booting).
func (p *proxyClient) init(ctx context.Context, addr string, body []byte) (*proxyResponse, error) {
	for {
		resp, err := p.post(ctx, addr, "/init", body)
		if err == nil {
			return resp, nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || ctx.Err() != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("init %s: %w", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// run POSTs /run once.
func (p *proxyClient) run(ctx context.Context, addr string, body []byte) (*proxyResponse, error) {
	return p.post(ctx, addr, "/run", body)
}

func (p *proxyClient) post(ctx context.Context, addr, path string, body []byte) (*proxyResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", path, addr, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %w", path, addr, errConnection, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(p.maxResult)+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w: %w", path, addr, errConnection, err)
	}
	out := &proxyResponse{Status: resp.StatusCode, Body: b, Length: len(b)}
	if len(b) > p.maxResult {
		out.Truncated = true
		out.Body = b[:p.maxResult]
		if resp.ContentLength > 0 {
			out.Length = int(resp.ContentLength)
		} else {
			n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<20))
			out.Length = len(b) + int(n)
		}
	}
	return out, nil
}
