package webaction

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// prettyJSON lays out valid JSON as upstream's web responses do. Upstream
// (Scala) completes .json, .text and .http JSON bodies with spray-json's
// PrettyPrinter; this printer reproduces its bytes where encoding/json
// cannot:
//
//   - arrays stay on one line, elements separated by ", " ([1, 2]), while
//     json.Indent and json.MarshalIndent put every element on its own line;
//   - object members go one per line, indented by two spaces per level, as
//     "key": value, separated by ",\n" (json.Indent would match this part);
//   - strings are re-escaped minimally: only '"', '\' and control characters,
//     the latter as \b \f \n \r \t or \u00xx in lower-case hex. json.Indent
//     copies the source escapes (\u0041, \/) through, and json.Marshal
//     escapes <, >, & and U+2028/U+2029 besides.
//
// Where it knowingly differs from spray-json 1.3.6 (kept as Brisk has always
// answered): members keep the input order (spray's parser sorts them), numbers
// keep their source text (spray prints BigDecimal's text, 1e3 as 1E+3), and an
// empty object is {} (spray prints an empty line between the braces).
// Invalid input is returned as is.
func prettyJSON(raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b bytes.Buffer
	if err := prettyValue(dec, &b, 0); err != nil {
		return raw
	}
	return b.Bytes()
}

func prettyValue(dec *json.Decoder, b *bytes.Buffer, indent int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("pretty print: %w", err)
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			b.WriteByte('[')
			for first := true; dec.More(); first = false {
				if !first {
					b.WriteString(", ")
				}
				if err := prettyValue(dec, b, indent); err != nil {
					return err
				}
			}
			b.WriteByte(']')
		} else {
			if !dec.More() {
				b.WriteString("{}")
				if _, err := dec.Token(); err != nil {
					return fmt.Errorf("pretty print: %w", err)
				}
				return nil
			}
			b.WriteString("{\n")
			for first := true; dec.More(); first = false {
				if !first {
					b.WriteString(",\n")
				}
				key, err := dec.Token()
				if err != nil {
					return fmt.Errorf("pretty print: %w", err)
				}
				b.WriteString(strings.Repeat(" ", indent+2))
				writeJSONString(b, fmt.Sprint(key))
				b.WriteString(": ")
				if err := prettyValue(dec, b, indent+2); err != nil {
					return err
				}
			}
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent))
			b.WriteByte('}')
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return fmt.Errorf("pretty print: %w", err)
		}
		return nil
	case string:
		writeJSONString(b, v)
	case json.Number:
		b.WriteString(v.String())
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	}
	return nil
}

// writeJSONString writes s quoted, escaping only what JSON requires.
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
