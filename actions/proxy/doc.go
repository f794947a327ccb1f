// Package proxy is the action proxy that runs inside every action container:
// an HTTP server speaking the OpenWhisk runtime protocol (POST /init, POST
// /run) for the nodejs and python kinds.
//
// At /init the proxy prepares the action code (plain source or a base64 zip)
// in a scratch directory and starts one long-lived launcher child process
// (node or python3 running an embedded launcher script). The launcher loads
// the user code once and then serves one activation per line written to its
// stdin, answering with one JSON line on file descriptor 3. The user code's
// stdout and stderr are the proxy's own; after every activation the proxy
// writes the log sentinel to both streams.
package proxy
