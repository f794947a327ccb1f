package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// maxAttachedCodeBytes bounds an action's code read from an attachment
// (upstream's largest action is 48 MB).
const maxAttachedCodeBytes = 48 << 20

// attachedCode is upstream's reference to action code kept outside the
// exec field (Attachments.Attached): either inlined in the name as a
// "mem:<base64url>" URI, or the name of a CouchDB attachment of the
// document ("couch:<name>", or a bare name such as "jarfile" in documents
// written by older upstream versions).
type attachedCode struct {
	AttachmentName string `json:"attachmentName"`
	AttachmentType string `json:"attachmentType"`
	Length         *int64 `json:"length,omitempty"`
	Digest         string `json:"digest,omitempty"`
}

// inlineAttachedCode rewrites an action document written by upstream
// OpenWhisk so that exec.code holds the code as a string, as Brisk writes
// it: binary code (exec.binary) becomes base64, like upstream's API returns
// it. Documents without attached code are returned unchanged.
func (s *Store) inlineAttachedCode(ctx context.Context, id string, raw json.RawMessage) (json.RawMessage, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("entity %s: %w: %v", id, ErrCorrupted, err)
	}
	var exec map[string]json.RawMessage
	if doc["exec"] == nil || json.Unmarshal(doc["exec"], &exec) != nil {
		return raw, nil
	}
	field := "code"
	if exec["code"] == nil && exec["jar"] != nil { // java actions once used "jar"
		field = "jar"
	}
	var att attachedCode
	if exec[field] == nil || json.Unmarshal(exec[field], &att) != nil || att.AttachmentName == "" {
		return raw, nil
	}
	var binary bool
	if exec["binary"] != nil {
		_ = json.Unmarshal(exec["binary"], &binary)
	}
	b, err := s.readAttachedCode(ctx, id, att)
	if err != nil {
		return nil, err
	}
	code := string(b)
	if binary {
		code = base64.StdEncoding.EncodeToString(b)
	}
	delete(exec, "jar")
	if exec["code"], err = json.Marshal(code); err != nil {
		return nil, fmt.Errorf("entity %s: %w", id, err)
	}
	if doc["exec"], err = json.Marshal(exec); err != nil {
		return nil, fmt.Errorf("entity %s: %w", id, err)
	}
	delete(doc, "_attachments")
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("entity %s: %w", id, err)
	}
	return out, nil
}

// readAttachedCode returns the bytes an attachment reference points to.
func (s *Store) readAttachedCode(ctx context.Context, id string, att attachedCode) ([]byte, error) {
	scheme, rest, ok := strings.Cut(att.AttachmentName, ":")
	if !ok {
		scheme, rest = "couch", att.AttachmentName
	}
	switch scheme {
	case "mem":
		// Java's URL-safe encoder pads; accept unpadded text as well.
		b, err := base64.URLEncoding.DecodeString(rest)
		if err != nil {
			b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(rest, "="))
		}
		if err != nil {
			return nil, fmt.Errorf("entity %s: inlined attachment: %w: %v", id, ErrCorrupted, err)
		}
		return b, nil
	case "couch":
		ctx, cancel := s.ctx(ctx)
		defer cancel()
		a, err := s.whisks.GetAttachment(ctx, id, rest)
		if err != nil {
			return nil, mapErr(err, fmt.Sprintf("attachment %s of entity %s", rest, id))
		}
		defer a.Content.Close()
		b, err := io.ReadAll(io.LimitReader(a.Content, maxAttachedCodeBytes+1))
		if err != nil {
			return nil, mapErr(err, fmt.Sprintf("read attachment %s of entity %s", rest, id))
		}
		if len(b) > maxAttachedCodeBytes {
			return nil, fmt.Errorf("entity %s: attachment %s is larger than %d bytes: %w", id, rest, maxAttachedCodeBytes, ErrCorrupted)
		}
		return b, nil
	}
	// Code in an external attachment store (upstream's S3 or Azure
	// attachment stores) is not reachable from here.
	return nil, fmt.Errorf("entity %s: attachment scheme %q is not supported: %w", id, scheme, ErrCorrupted)
}
