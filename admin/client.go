package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/brisk-serverless/brisk/store"
)

// ErrNoServer is a socket path nothing serves: no socket file, or one left
// by a process that is gone.
var ErrNoServer = errors.New("no admin server")

// dialTimeout bounds connecting to the socket.
const dialTimeout = 2 * time.Second

// Client calls the operations of a [Server] on its unix socket. Each call
// is bounded by CallTimeout (and by the caller's context).
type Client struct {
	path string
	hc   *http.Client
}

var _ Operations = (*Client)(nil)

// Dial returns a Client of the server at the socket path, after checking
// that a server accepts connections there; ErrNoServer when none does.
// Close the Client when done.
func Dial(ctx context.Context, path string) (*Client, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, ErrNoServer, err)
	}
	dialer := &net.Dialer{Timeout: dialTimeout}
	probe, err := dialer.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, ErrNoServer, err)
	}
	_ = probe.Close()
	return &Client{path: path, hc: &http.Client{
		Timeout: CallTimeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "unix", path)
			},
			MaxResponseHeaderBytes: 64 << 10,
		},
	}}, nil
}

// Close releases the Client's connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// call runs operation op on the server: it sends req and decodes the
// result into a Res, or returns the operation's error as the server's
// Operations returned it (matching the same errors.Is and errors.As).
func call[Res, Req any](ctx context.Context, c *Client, op string, req Req) (Res, error) {
	var res Res
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	body, err := json.Marshal(req)
	if err != nil {
		return res, fmt.Errorf("admin %s: %w", op, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://brisk-admin/v1/"+op, bytes.NewReader(body))
	if err != nil {
		return res, fmt.Errorf("admin %s: %w", op, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return res, fmt.Errorf("running standalone at %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return res, fmt.Errorf("running standalone at %s: %w", c.path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var w wireError
		if json.Unmarshal(raw, &w) == nil {
			if err, ok := w.decode(); ok {
				return res, err
			}
		}
		return res, fmt.Errorf("running standalone at %s answered %s: %s", c.path, resp.Status, bytes.TrimSpace(raw))
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return res, fmt.Errorf("running standalone at %s: %w", c.path, err)
	}
	return res, nil
}

// CreateUser runs [Service.CreateUser] on the server.
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (Credential, error) {
	return call[Credential](ctx, c, opCreateUser, req)
}

// GetUser runs [Service.GetUser] on the server.
func (c *Client) GetUser(ctx context.Context, subject string) (User, error) {
	return call[User](ctx, c, opGetUser, subjectArgs{Subject: subject})
}

// DeleteUser runs [Service.DeleteUser] on the server.
func (c *Client) DeleteUser(ctx context.Context, subject string) error {
	_, err := call[none](ctx, c, opDeleteUser, subjectArgs{Subject: subject})
	return err
}

// DeleteNamespace runs [Service.DeleteNamespace] on the server.
func (c *Client) DeleteNamespace(ctx context.Context, subject, namespace string) error {
	_, err := call[none](ctx, c, opDeleteNamespace, subjectNamespaceArgs{Subject: subject, Namespace: namespace})
	return err
}

// ListUsers runs [Service.ListUsers] on the server.
func (c *Client) ListUsers(ctx context.Context, req ListUsersRequest) ([]Identity, error) {
	return call[[]Identity](ctx, c, opListUsers, req)
}

// Whois runs [Service.Whois] on the server.
func (c *Client) Whois(ctx context.Context, auth string) (Identity, error) {
	return call[Identity](ctx, c, opWhois, authArgs{Auth: auth})
}

// Block runs [Service.Block] on the server.
func (c *Client) Block(ctx context.Context, subject string) error {
	_, err := call[none](ctx, c, opBlock, subjectArgs{Subject: subject})
	return err
}

// Unblock runs [Service.Unblock] on the server.
func (c *Client) Unblock(ctx context.Context, subject string) error {
	_, err := call[none](ctx, c, opUnblock, subjectArgs{Subject: subject})
	return err
}

// SetLimits runs [Service.SetLimits] on the server.
func (c *Client) SetLimits(ctx context.Context, req SetLimitsRequest) error {
	_, err := call[none](ctx, c, opSetLimits, req)
	return err
}

// GetLimits runs [Service.GetLimits] on the server.
func (c *Client) GetLimits(ctx context.Context, namespace string) (store.Limits, error) {
	return call[store.Limits](ctx, c, opGetLimits, namespaceArgs{Namespace: namespace})
}

// DeleteLimits runs [Service.DeleteLimits] on the server.
func (c *Client) DeleteLimits(ctx context.Context, namespace string) error {
	_, err := call[none](ctx, c, opDeleteLimits, namespaceArgs{Namespace: namespace})
	return err
}
