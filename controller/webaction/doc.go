// Package webaction owns upstream OpenWhisk's transcoding rules for web
// actions, as pure functions over plain values:
//
//   - the request side: building an action's arguments from an HTTP request
//     (the __ow_* context, query and body merging, raw-http, the content-type
//     classes of a body, base64 for binary bodies, reserved and final names);
//   - the response side: choosing the value an activation answers with, and
//     turning it into an HTTP response by the extension of the web path
//     (.json, .html, .svg, .text, .http), including statusCode, headers, body
//     decoding, content types, content negotiation and upstream's JSON
//     layout.
//
// Failures are *api.Error values carrying upstream's status and message, for
// the HTTP edge to write. Routing, action lookup, annotations such as
// web-export, require-whisk-auth and web-custom-options, CORS and the
// activation itself belong to the caller (controller/web.go).
package webaction
