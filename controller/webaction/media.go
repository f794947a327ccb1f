package webaction

import (
	"encoding/base64"
	"fmt"
	"mime"
	"regexp"
	"strings"
)

// mediaClass is how a media type carries text, as upstream's HTTP layer
// (pekko-http) classifies it.
type mediaClass int

const (
	mediaBinary  mediaClass = iota
	mediaOpen               // text in any charset (rendered with charset=UTF-8)
	mediaFixedCS            // text in a fixed charset (UTF-8, not rendered)
)

// textMediaTypes are the registered media types that are not binary.
var textMediaTypes = func() map[string]mediaClass {
	m := map[string]mediaClass{}
	for _, t := range []string{"application/json", "application/json-patch+json", "application/merge-patch+json",
		"application/problem+json", "application/vnd.api+json", "application/x-www-form-urlencoded", "text/event-stream"} {
		m[t] = mediaFixedCS
	}
	for _, t := range []string{"atom+xml", "base64", "javascript", "rss+xml", "soap+xml", "vnd.google-earth.kml+xml",
		"x-latex", "x-vrml", "xhtml+xml", "xml-dtd", "xml", "problem+xml"} {
		m["application/"+t] = mediaOpen
	}
	for _, t := range []string{"asp", "cache-manifest", "calendar", "css", "csv", "html", "markdown", "mcf", "plain",
		"richtext", "tab-separated-values", "uri-list", "vnd.wap.wml", "vnd.wap.wmlscript", "x-asm", "x-c",
		"x-component", "x-h", "x-java-source", "x-pascal", "x-script", "x-scriptcsh", "x-scriptelisp", "x-scriptksh",
		"x-scriptlisp", "x-scriptperl", "x-scriptperl-module", "x-scriptphyton", "x-scriptrexx", "x-scriptscheme",
		"x-scriptsh", "x-scripttcl", "x-scripttcsh", "x-scriptzsh", "x-server-parsed-html", "x-setext", "x-sgml",
		"x-speech", "x-uuencode", "x-vcalendar", "x-vcard", "xml"} {
		m["text/"+t] = mediaOpen
	}
	return m
}()

// binaryFamilies are the main types whose registered media types are binary.
var binaryFamilies = map[string]bool{"image": true, "audio": true, "video": true, "font": true, "multipart": true, "message": true}

// mediaClassOf classifies a parsed media type: registered text types by the
// table; unregistered ones are text when they name a charset, else binary.
func mediaClassOf(mt string, params map[string]string) mediaClass {
	if c, ok := textMediaTypes[mt]; ok {
		return c
	}
	main, _, _ := strings.Cut(mt, "/")
	if _, ok := params["charset"]; ok && !binaryFamilies[main] {
		return mediaOpen
	}
	return mediaBinary
}

// parseMediaType parses a Content-Type value that must name a type and a
// subtype.
func parseMediaType(v string) (string, map[string]string, error) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return "", nil, fmt.Errorf("media type %q: %w", v, err)
	}
	main, sub, ok := strings.Cut(mt, "/")
	if !ok || main == "" || sub == "" {
		return "", nil, fmt.Errorf("media type %q has no subtype", v)
	}
	return mt, params, nil
}

func isJSONFamily(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// renderContentType renders a media type as the response's Content-Type:
// UTF-8 is the charset of every text type.
func renderContentType(mt string, params map[string]string, class mediaClass) string {
	p := map[string]string{}
	for k, v := range params {
		if k != "charset" {
			p[k] = v
		}
	}
	s := mime.FormatMediaType(mt, p)
	if s == "" {
		s = mt
	}
	if class == mediaOpen {
		s += "; charset=UTF-8"
	}
	return s
}

// base64Body matches what upstream takes for base64 (Exec.isBinaryCode).
var base64Body = regexp.MustCompile(`^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$`)

func looksBase64(s string) bool {
	t := strings.TrimSpace(s)
	return len(t) > 0 && len(t)%4 == 0 && base64Body.MatchString(t)
}

func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("base64 body: %w", err)
	}
	return b, nil
}
