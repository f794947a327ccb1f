package main

// `brisk admin` manages users (subjects, their namespaces and keys) and
// namespace limits, as upstream's wskadmin does, with its commands, options,
// messages and exit codes (0 done, 1 failed, 2 bad arguments). It works on
// the same documents in the subjects database:
//
//	{"_id": subject, "subject": subject, "namespaces": [{"name","uuid","key"}], "blocked"?: bool}
//	{"_id": "<namespace>/limits", "invocationsPerMinute"?: n, "concurrentInvocations"?: n, ...}
//
// Where the store is:
//
//   - --couchdb URL: CouchDB, directly. Running controllers see the change at
//     once when --kafka names their brokers (the change is announced on the
//     cacheInvalidation topic), otherwise within their cache TTL (1 minute).
//   - --data-dir DIR (default $BRISK_DATA_DIR or ~/.brisk): the embedded
//     store DIR/brisk.db. A running `brisk standalone` holds that file's
//     lock, so admin then sends the command to it over the unix socket
//     DIR/admin.sock (mode 0600, served only to the data directory's owner,
//     who can read the keys in brisk.db anyway); standalone runs it on its
//     store and evicts what changed from its caches at once (a standalone
//     on --couchdb serves the socket too, so admin reaches its CouchDB).
//     With no standalone running, admin opens the file itself.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-kivik/kivik/v4"
	"github.com/google/uuid"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
	"github.com/brisk-serverless/brisk/store/embedded"
)

const adminUsage = `Usage: brisk admin [--couchdb URL [--kafka BROKERS] | --data-dir DIR] [--db-prefix P] COMMAND

Users:
  user create SUBJECT [-ns NAMESPACE] [-u UUID:KEY] [-r] [-g] [-s]   create a user (or a key for NAMESPACE); prints uuid:key
  user get SUBJECT [-ns NAMESPACE] [-a]                              print the key (-a: every namespace and key)
  user delete SUBJECT [-ns NAMESPACE]                                delete the user (or only its key for NAMESPACE)
  user list NAMESPACE [-p N] [-a] [-k]                               list the keys of a namespace (default 1; -a all)
  user whois UUID:KEY                                                print the subject and namespace of a key
  user block SUBJECT...  /  user unblock SUBJECT...                  block or unblock users

Namespace limits (absent ones take the system's):
  limits set NAMESPACE [--invocationsPerMinute N] [--concurrentInvocations N] [--firesPerMinute N]
                       [--allowedKinds KIND...] [--storeActivations true|false] [--minActionMemory N] ...
  limits get NAMESPACE
  limits delete NAMESPACE

Store (default: --data-dir $BRISK_DATA_DIR or ~/.brisk; a running standalone
is reached through DIR/admin.sock):
`

// Exit codes of wskadmin.
const (
	exitOK      = 0
	exitFailed  = 1
	exitBadArgs = 2
)

// Bounds of admin's work.
const (
	adminTimeout       = 30 * time.Second // one whole command
	adminLockWait      = 500 * time.Millisecond
	adminSocketName    = "admin.sock"
	adminDialTimeout   = 2 * time.Second
	adminMaxBody       = 1 << 20
	adminInstanceID    = "admin"
	minSubjectLength   = 5
	authKeyLength      = 64
	notFoundDetail     = `{"error":"not_found","reason":"missing"}`
	adminSocketTimeout = adminTimeout + 5*time.Second
)

// runAdmin is `brisk admin`; it returns the exit code.
func runAdmin(args []string, stdout, stderr io.Writer) int {
	home, _ := os.UserHomeDir()
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	couch := fs.String("couchdb", "", "CouchDB URL, http(s)://[user:password@]host:port")
	prefix := fs.String("db-prefix", "", "database name prefix, as given to brisk standalone (default whisk_local_)")
	kafkaBrokers := fs.String("kafka", "", "with --couchdb: Kafka brokers (host:port,...) to announce changes to running controllers")
	dataDir := fs.String("data-dir", envOr("BRISK_DATA_DIR", filepath.Join(home, ".brisk")), "data directory of brisk standalone")
	fs.Usage = func() {
		fmt.Fprint(stderr, adminUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadArgs
	}
	cmd := fs.Args()
	if len(cmd) == 0 {
		fs.Usage()
		return exitBadArgs
	}
	if code, ok := checkCommand(cmd, stderr); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()

	if *couch != "" {
		cfg, err := store.CouchConfig(*couch, *prefix)
		if err != nil {
			fmt.Fprintln(stderr, "brisk admin:", err)
			return exitBadArgs
		}
		st, err := store.Open(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "brisk admin:", err)
			return exitFailed
		}
		defer st.Close()
		a := &admin{st: st, out: stdout, errOut: stderr}
		if *kafkaBrokers != "" {
			producer := messaging.NewProducer(strings.Split(*kafkaBrokers, ","), messaging.ProducerOptions{SendTimeout: 10 * time.Second})
			defer producer.Close()
			a.notify = func(keys ...messaging.CacheKey) { announce(ctx, producer, keys, stderr) }
		}
		return a.run(ctx, cmd)
	}

	sock := filepath.Join(*dataDir, adminSocketName)
	if code, ok := adminViaSocket(ctx, sock, cmd, stdout, stderr); ok {
		return code
	}
	if fi, err := os.Stat(*dataDir); err != nil || !fi.IsDir() {
		fmt.Fprintf(stderr, "brisk admin: data directory %s not found: start brisk standalone once, or pass --data-dir or --couchdb\n", *dataDir)
		return exitFailed
	}
	dbPath := filepath.Join(*dataDir, "brisk.db")
	st, err := store.Open(ctx, store.Config{Driver: embedded.DriverName, DSN: dbPath, Prefix: *prefix,
		Options: []kivik.Option{embedded.OptionLockTimeout(adminLockWait)}})
	if kivik.HTTPStatus(err) == http.StatusServiceUnavailable {
		fmt.Fprintf(stderr, "brisk admin: %s is locked by a running brisk standalone that does not answer on %s: "+
			"stop brisk standalone first, or use --couchdb\n", dbPath, sock)
		return exitFailed
	}
	if err != nil {
		fmt.Fprintln(stderr, "brisk admin:", err)
		return exitFailed
	}
	defer st.Close()
	return (&admin{st: st, out: stdout, errOut: stderr}).run(ctx, cmd)
}

// checkCommand rejects an unknown command before any store is opened.
func checkCommand(cmd []string, stderr io.Writer) (int, bool) {
	subs := map[string][]string{
		"user":   {"create", "delete", "get", "whois", "list", "block", "unblock"},
		"limits": {"set", "get", "delete"},
	}
	known, ok := subs[cmd[0]]
	if !ok {
		fmt.Fprintf(stderr, "brisk admin: unknown command %q (user or limits)\n", cmd[0])
		return exitBadArgs, false
	}
	if len(cmd) < 2 || !slices.Contains(known, cmd[1]) {
		fmt.Fprintf(stderr, "brisk admin %s: want one of %s\n", cmd[0], strings.Join(known, ", "))
		return exitBadArgs, false
	}
	return exitOK, true
}

// announce publishes invalidations of keys for running controllers.
func announce(ctx context.Context, producer *messaging.Producer, keys []messaging.CacheKey, stderr io.Writer) {
	for _, k := range keys {
		raw, err := json.Marshal(messaging.CacheInvalidationMessage{Key: k, InstanceID: adminInstanceID})
		if err == nil {
			err = producer.Send(ctx, messaging.CacheInvalidationTopic, raw)
		}
		if err != nil {
			fmt.Fprintf(stderr, "brisk admin: warning: could not announce the change (controllers see it within a minute): %v\n", err)
			return
		}
	}
}

// admin runs one command against a store.
type admin struct {
	st *store.Store
	// notify announces changed cache keys (nil: nobody to tell).
	notify      func(keys ...messaging.CacheKey)
	out, errOut io.Writer
}

// run executes cmd ("user create alice", ...) and returns the exit code.
func (a *admin) run(ctx context.Context, cmd []string) int {
	if code, ok := checkCommand(cmd, a.errOut); !ok {
		return code
	}
	args := cmd[2:]
	switch cmd[0] + " " + cmd[1] {
	case "user create":
		return a.userCreate(ctx, args)
	case "user get":
		return a.userGet(ctx, args)
	case "user delete":
		return a.userDelete(ctx, args)
	case "user list":
		return a.userList(ctx, args)
	case "user whois":
		return a.userWhois(ctx, args)
	case "user block":
		return a.userBlock(ctx, args, true)
	case "user unblock":
		return a.userBlock(ctx, args, false)
	case "limits set":
		return a.limitsSet(ctx, args)
	case "limits get":
		return a.limitsGet(ctx, args)
	default: // "limits delete"
		return a.limitsDelete(ctx, args)
	}
}

func (a *admin) println(format string, args ...any) { fmt.Fprintf(a.out, format+"\n", args...) }
func (a *admin) fail(format string, args ...any) int {
	fmt.Fprintf(a.errOut, format+"\n", args...)
	return exitFailed
}
func (a *admin) badArgs(format string, args ...any) int {
	fmt.Fprintf(a.errOut, format+"\n", args...)
	return exitBadArgs
}

func (a *admin) announce(keys ...messaging.CacheKey) {
	if a.notify != nil && len(keys) > 0 {
		a.notify(keys...)
	}
}

// detail is what wskadmin prints in parentheses after a failure: CouchDB's
// answer.
func detail(err error) string {
	if errors.Is(err, store.ErrNotFound) {
		return notFoundDetail
	}
	return err.Error()
}

// parseArgs parses flags placed anywhere among the positional arguments, as
// wskadmin's argparse does. Values of the flags named in multi may be given
// as several arguments (--allowedKinds nodejs:20 python:3.11).
func parseArgs(fs *flag.FlagSet, args []string, multi ...string) ([]string, error) {
	var pos []string
	var flat []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name := strings.TrimLeft(arg, "-")
		if strings.HasPrefix(arg, "-") && slices.Contains(multi, name) {
			var vals []string
			for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				vals = append(vals, args[i])
			}
			flat = append(flat, "--"+name+"="+strings.Join(vals, ","))
			continue
		}
		flat = append(flat, arg)
	}
	for {
		if err := fs.Parse(flat); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		flat = rest[1:]
	}
}

// argsErr is the exit code of a flag parsing error (flag already printed it).
func argsErr(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitBadArgs
}

func (a *admin) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.errOut)
	return fs
}

// subjectKeys are the cache keys of every credential of a subject.
func subjectKeys(docs ...*api.SubjectDoc) []messaging.CacheKey {
	var keys []messaging.CacheKey
	for _, d := range docs {
		if d == nil {
			continue
		}
		for _, ns := range d.Namespaces {
			keys = append(keys, controller.IdentityCacheKey(ns.UUID, ns.Key))
		}
	}
	return keys
}

const keyAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newKey returns a random alphanumeric key of 64 characters, as upstream's.
func newKey() (string, error) {
	b := make([]byte, authKeyLength)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(keyAlphabet))))
		if err != nil {
			return "", fmt.Errorf("generate key: %w", err)
		}
		b[i] = keyAlphabet[n.Int64()]
	}
	return string(b), nil
}

// checkSubject validates a subject name for a new document.
func checkSubject(s string) string {
	switch {
	case len(s) < minSubjectLength:
		return "Subject name must be at least 5 characters"
	case strings.HasPrefix(s, "_") || strings.Contains(s, "/"):
		return "Subject name must not start with '_' or contain '/'"
	}
	return ""
}

func (a *admin) userCreate(ctx context.Context, args []string) int {
	fs := a.flags("user create")
	var auth, namespace string
	var revoke, force, genonly, silent bool
	for _, n := range []string{"u", "auth"} {
		fs.StringVar(&auth, n, "", "the uuid:key to initialize the subject authorization key with")
	}
	for _, n := range []string{"ns", "namespace"} {
		fs.StringVar(&namespace, n, "", "create key for given namespace instead (defaults to subject id)")
	}
	for _, n := range []string{"r", "revoke"} {
		fs.BoolVar(&revoke, n, false, "revoke the current authorization key and generate a new key")
	}
	for _, n := range []string{"f", "force"} {
		fs.BoolVar(&force, n, false, "force update an existing subject authorization uuid:key")
	}
	for _, n := range []string{"g", "genonly"} {
		fs.BoolVar(&genonly, n, false, "generate a uuid and key but do not store them")
	}
	for _, n := range []string{"s", "silent"} {
		fs.BoolVar(&silent, n, false, "do not show the new key")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return argsErr(err)
	}
	if len(pos) != 1 {
		return a.badArgs("usage: user create SUBJECT [-ns NAMESPACE] [-u UUID:KEY] [-r] [-f] [-g] [-s]")
	}
	subject := strings.TrimSpace(pos[0])
	if msg := checkSubject(subject); msg != "" {
		return a.badArgs("%s", msg)
	}
	desired := subject
	if isSet(fs, "ns", "namespace") {
		desired = strings.TrimSpace(namespace)
		if desired == "" {
			return a.badArgs("Namespace must not be empty")
		}
	}
	if err := api.CheckNamespace(desired); err != nil {
		return a.badArgs("Namespace %q is not valid: %v", desired, err)
	}
	var id, key string
	if auth != "" {
		u, k, ok := strings.Cut(auth, ":")
		if !ok {
			return a.badArgs("failed to determine authorization id and key: %s", auth)
		}
		parsed, err := uuid.Parse(u)
		if err != nil {
			return a.badArgs("authorization id is not a valid UUID")
		}
		if len(k) < authKeyLength {
			return a.badArgs("authorization key must be at least 64 characters long")
		}
		if len(k) > authKeyLength {
			return a.badArgs("authorization key must be at most 64 characters long")
		}
		id, key = parsed.String(), k
	} else {
		id = uuid.NewString()
		if key, err = newKey(); err != nil {
			return a.fail("%v", err)
		}
	}
	if genonly {
		a.println("%s:%s", id, key)
		return exitOK
	}

	old, err := a.st.GetSubject(ctx, subject)
	var doc api.SubjectDoc
	switch {
	case errors.Is(err, store.ErrNotFound):
		doc = api.SubjectDoc{ID: subject, Subject: subject, Namespaces: []api.NamespaceKey{{Name: desired, UUID: id, Key: key}}}
	case err != nil:
		return a.fail("Failed to create subject (%s)", detail(err))
	case old.Blocked:
		return a.fail("The subject you want to edit is blocked")
	default:
		doc = *old
		doc.Namespaces = slices.Clone(old.Namespaces)
		i := slices.IndexFunc(doc.Namespaces, func(n api.NamespaceKey) bool { return n.Name == desired })
		switch {
		case i < 0:
			doc.Namespaces = append(doc.Namespaces, api.NamespaceKey{Name: desired, UUID: id, Key: key})
		case force:
			doc.Namespaces[i] = api.NamespaceKey{Name: desired, UUID: id, Key: key}
		case revoke:
			// A new key; the uuid stays unless one was given.
			if auth == "" {
				id = doc.Namespaces[i].UUID
			}
			doc.Namespaces[i] = api.NamespaceKey{Name: desired, UUID: id, Key: key}
		default:
			return a.fail("Namespace already exists")
		}
	}
	if _, err := a.st.PutSubject(ctx, doc); err != nil {
		return a.fail("Failed to create subject (%s)", detail(err))
	}
	a.announce(subjectKeys(old)...)
	if !silent {
		a.println("%s:%s", id, key)
	}
	return exitOK
}

// isSet reports whether any of the named flags was given.
func isSet(fs *flag.FlagSet, names ...string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains(names, f.Name) {
			set = true
		}
	})
	return set
}

func (a *admin) userGet(ctx context.Context, args []string) int {
	fs := a.flags("user get")
	var namespace string
	var all bool
	for _, n := range []string{"ns", "namespace"} {
		fs.StringVar(&namespace, n, "", "the namespace to get the key for, defaults to subject id")
	}
	for _, n := range []string{"a", "all"} {
		fs.BoolVar(&all, n, false, "list all namespaces and their keys")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return argsErr(err)
	}
	if len(pos) != 1 {
		return a.badArgs("usage: user get SUBJECT [-ns NAMESPACE] [-a]")
	}
	subject := pos[0]
	doc, err := a.st.GetSubject(ctx, subject)
	if err != nil {
		return a.fail("Failed to get subject (%s)", detail(err))
	}
	if all {
		for _, ns := range doc.Namespaces {
			a.println("%s\t%s:%s", ns.Name, ns.UUID, ns.Key)
		}
		return exitOK
	}
	if !isSet(fs, "ns", "namespace") {
		namespace = subject
	}
	for _, ns := range doc.Namespaces {
		if ns.Name == namespace {
			a.println("%s:%s", ns.UUID, ns.Key)
			return exitOK
		}
	}
	return a.fail("namespace %q not found for %q", namespace, subject)
}

func (a *admin) userDelete(ctx context.Context, args []string) int {
	fs := a.flags("user delete")
	var namespace string
	for _, n := range []string{"ns", "namespace"} {
		fs.StringVar(&namespace, n, "", "delete key for given namespace only")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return argsErr(err)
	}
	if len(pos) != 1 {
		return a.badArgs("usage: user delete SUBJECT [-ns NAMESPACE]")
	}
	subject := strings.TrimSpace(pos[0])
	if subject == "" {
		return a.badArgs("Subject must not be empty")
	}
	nsOnly := isSet(fs, "ns", "namespace")
	namespace = strings.TrimSpace(namespace)
	if nsOnly && namespace == "" {
		return a.badArgs("Namespace must not be empty")
	}
	doc, err := a.st.GetSubject(ctx, subject)
	if err != nil {
		return a.fail("Failed to delete subject (%s)", detail(err))
	}
	if !nsOnly {
		if err := a.st.DeleteSubject(ctx, doc.ID, doc.Rev); err != nil {
			return a.fail("Failed to delete subject (%s)", detail(err))
		}
		a.announce(subjectKeys(doc)...)
		a.println("Subject deleted")
		return exitOK
	}
	updated := *doc
	updated.Namespaces = slices.DeleteFunc(slices.Clone(doc.Namespaces), func(n api.NamespaceKey) bool { return n.Name == namespace })
	if len(updated.Namespaces) == len(doc.Namespaces) {
		return a.fail("Namespace %q does not exist for %q", namespace, doc.ID)
	}
	if _, err := a.st.PutSubject(ctx, updated); err != nil {
		return a.fail("Failed to remove namespace (%s)", detail(err))
	}
	a.announce(subjectKeys(doc)...)
	a.println("Namespace deleted")
	return exitOK
}

func (a *admin) userList(ctx context.Context, args []string) int {
	fs := a.flags("user list")
	var pick int
	var all, keysOnly bool
	for _, n := range []string{"p", "pick"} {
		fs.IntVar(&pick, n, 1, "show no more than N identities")
	}
	for _, n := range []string{"a", "all"} {
		fs.BoolVar(&all, n, false, "show all identities")
	}
	for _, n := range []string{"k", "key"} {
		fs.BoolVar(&keysOnly, n, false, "show only the keys")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return argsErr(err)
	}
	if len(pos) != 1 {
		return a.badArgs("usage: user list NAMESPACE [-p N] [-a] [-k]")
	}
	if pick < 1 {
		return a.badArgs("pick at least 1 identity to show")
	}
	limit := pick
	if all {
		limit = 0
	}
	rows, err := a.st.ListIdentities(ctx, pos[0], limit)
	if err != nil {
		return a.fail("Failed to get namespace key (%s)", detail(err))
	}
	if len(rows) == 0 {
		a.println("no identities found for namespace %q", pos[0])
		return exitOK
	}
	for _, r := range rows {
		if keysOnly {
			a.println("%s:%s", r.UUID, r.Key)
		} else {
			a.println("%s:%s\t%s", r.UUID, r.Key, r.Subject)
		}
	}
	return exitOK
}

func (a *admin) userWhois(ctx context.Context, args []string) int {
	pos, err := parseArgs(a.flags("user whois"), args)
	if err != nil {
		return argsErr(err)
	}
	if len(pos) != 1 {
		return a.badArgs("usage: user whois UUID:KEY")
	}
	u, k, ok := strings.Cut(pos[0], ":")
	if !ok {
		return a.badArgs("failed to determine authorization id and key: %s", pos[0])
	}
	id, err := a.st.GetIdentity(ctx, u, k)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.println("Subject id is not recognized")
		return exitOK
	case err != nil:
		return a.fail("Failed to get subject (%s)", detail(err))
	}
	a.println("subject: %s", id.Subject)
	a.println("namespace: %s", id.Namespace)
	return exitOK
}

// userBlock blocks or unblocks subjects; the exit code counts the failures.
func (a *admin) userBlock(ctx context.Context, args []string, block bool) int {
	pos, err := parseArgs(a.flags("user block"), args)
	if err != nil {
		return argsErr(err)
	}
	verb := "block"
	if !block {
		verb = "unblock"
	}
	if len(pos) == 0 {
		return a.badArgs("usage: user %s SUBJECT...", verb)
	}
	failed := 0
	for _, subject := range pos {
		subject = strings.TrimSpace(subject)
		if subject == "" {
			continue
		}
		doc, err := a.st.GetSubject(ctx, subject)
		if err == nil {
			updated := *doc
			updated.Blocked = block
			_, err = a.st.PutSubject(ctx, updated)
		}
		if err != nil {
			fmt.Fprintf(a.errOut, "Failed to %s %q (%s)\n", verb, subject, detail(err))
			failed++
			continue
		}
		a.announce(subjectKeys(doc)...)
		a.println("%q %sed successfully", subject, verb)
	}
	return failed
}

// limitNames are the limits wskadmin sets and prints, in its order.
var limitNames = []string{
	"invocationsPerMinute", "firesPerMinute", "concurrentInvocations", "allowedKinds", "storeActivations",
	"minActionMemory", "maxActionMemory", "minActionLogs", "maxActionLogs", "minActionTimeout", "maxActionTimeout",
	"minActionConcurrency", "maxActionConcurrency", "maxParameterSize", "maxPayloadSize", "truncationSize",
}

// limitFields maps each limit name to its field in store.Limits.
func limitFields(l *store.Limits) map[string]any {
	return map[string]any{
		"invocationsPerMinute": &l.InvocationsPerMinute, "firesPerMinute": &l.FiresPerMinute,
		"concurrentInvocations": &l.ConcurrentInvocations, "allowedKinds": &l.AllowedKinds,
		"storeActivations": &l.StoreActivations, "minActionMemory": &l.MinActionMemory,
		"maxActionMemory": &l.MaxActionMemory, "minActionLogs": &l.MinActionLogs, "maxActionLogs": &l.MaxActionLogs,
		"minActionTimeout": &l.MinActionTimeout, "maxActionTimeout": &l.MaxActionTimeout,
		"minActionConcurrency": &l.MinActionConcurrency, "maxActionConcurrency": &l.MaxActionConcurrency,
		"maxParameterSize": &l.MaxParameterSize, "maxPayloadSize": &l.MaxPayloadSize, "truncationSize": &l.TruncationSize,
	}
}

func (a *admin) limitsSet(ctx context.Context, args []string) int {
	fs := a.flags("limits set")
	given := map[string]*string{}
	for _, n := range limitNames {
		given[n] = fs.String(n, "", "")
	}
	pos, err := parseArgs(fs, args, "allowedKinds")
	if err != nil {
		return argsErr(err)
	}
	if len(pos) != 1 {
		return a.badArgs("usage: limits set NAMESPACE [--invocationsPerMinute N] [--concurrentInvocations N] [--firesPerMinute N] ...")
	}
	ns := pos[0]
	if err := api.CheckNamespace(ns); err != nil {
		return a.badArgs("Namespace %q is not valid: %v", ns, err)
	}
	l, err := a.st.GetLimits(ctx, ns)
	switch {
	case errors.Is(err, store.ErrNotFound):
		l = &store.Limits{}
	case err != nil:
		return a.fail("Failed to set limits (%s)", detail(err))
	}
	fields := limitFields(l)
	var bad error
	fs.Visit(func(f *flag.Flag) {
		if bad != nil {
			return
		}
		v := *given[f.Name]
		switch p := fields[f.Name].(type) {
		case **int:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				bad = fmt.Errorf("--%s: want a non-negative integer, got %q", f.Name, v)
				return
			}
			*p = &n
		case **bool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad = fmt.Errorf("--%s: want true or false, got %q", f.Name, v)
				return
			}
			*p = &b
		case **string:
			*p = &v
		case *[]string:
			kinds := strings.FieldsFunc(v, func(r rune) bool { return r == ',' })
			if len(kinds) == 0 {
				bad = fmt.Errorf("--%s: want one or more kinds", f.Name)
				return
			}
			*p = kinds
		}
	})
	if bad != nil {
		return a.badArgs("%v", bad)
	}
	if _, err := a.st.PutLimits(ctx, ns, *l); err != nil {
		return a.fail("Failed to set limits (%s)", detail(err))
	}
	a.announce(controller.LimitsCacheKey(ns))
	a.println("Limits successfully set for %q", ns)
	return exitOK
}

func (a *admin) limitsGet(ctx context.Context, args []string) int {
	pos, err := parseArgs(a.flags("limits get"), args)
	if err != nil {
		return argsErr(err)
	}
	if len(pos) != 1 {
		return a.badArgs("usage: limits get NAMESPACE")
	}
	l, err := a.st.GetLimits(ctx, pos[0])
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.println("No limits found, default system limits apply")
		return exitOK
	case err != nil:
		return a.fail("Failed to get limits (%s)", detail(err))
	}
	fields := limitFields(l)
	for _, n := range limitNames {
		switch p := fields[n].(type) {
		case **int:
			if *p != nil {
				a.println("%s = %d", n, **p)
			}
		case **bool:
			if *p != nil {
				a.println("%s = %t", n, **p)
			}
		case **string:
			if *p != nil {
				a.println("%s = %s", n, **p)
			}
		case *[]string:
			if *p != nil {
				a.println("%s = %s", n, strings.Join(*p, ", "))
			}
		}
	}
	return exitOK
}

func (a *admin) limitsDelete(ctx context.Context, args []string) int {
	pos, err := parseArgs(a.flags("limits delete"), args)
	if err != nil {
		return argsErr(err)
	}
	if len(pos) != 1 {
		return a.badArgs("usage: limits delete NAMESPACE")
	}
	l, err := a.st.GetLimits(ctx, pos[0])
	if err == nil {
		err = a.st.DeleteLimits(ctx, pos[0], l.Rev)
	}
	if err != nil {
		return a.fail("Failed to delete limits (%s)", detail(err))
	}
	a.announce(controller.LimitsCacheKey(pos[0]))
	a.println("Limits deleted")
	return exitOK
}

// --- the running standalone's side: admin.sock -----------------------------

// adminRequest and adminResponse are the messages on admin.sock.
type adminRequest struct {
	Args []string `json:"args"`
}

type adminResponse struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Exit   int    `json:"exit"`
}

// serveAdmin serves admin commands on DIR/admin.sock while standalone holds
// the store: each runs on st, and what it changed is passed to invalidate
// (the controller's caches and the cacheInvalidation topic). The returned
// function stops serving and removes the socket. A socket that cannot be
// created is logged, not fatal: admin then reports the locked store.
func serveAdmin(dataDir string, st *store.Store, invalidate func(...messaging.CacheKey), log *slog.Logger) (stop func()) {
	path := filepath.Join(dataDir, adminSocketName)
	// This process holds the store's lock, so a socket left here is stale.
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		log.Warn("admin socket not served; `brisk admin` works only while standalone is stopped", "path", path, "err", err)
		return func() {}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		log.Warn("admin socket not served", "path", path, "err", err)
		return func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/command", func(w http.ResponseWriter, r *http.Request) {
		var req adminRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, adminMaxBody)).Decode(&req); err != nil || len(req.Args) == 0 {
			http.Error(w, "want {\"args\":[...]}", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
		defer cancel()
		var out, errOut bytes.Buffer
		a := &admin{st: st, notify: invalidate, out: &out, errOut: &errOut}
		code := a.run(ctx, req.Args)
		log.Info("admin command", "command", strings.Join(req.Args[:min(2, len(req.Args))], " "), "exit", code)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(adminResponse{Stdout: out.String(), Stderr: errOut.String(), Exit: code})
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: adminSocketTimeout, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("admin socket stopped", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminSocketTimeout)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
		_ = os.Remove(path)
	}
}

// adminViaSocket sends cmd to a standalone listening on sock. ok is false
// when nothing listens there (then admin opens the store itself).
func adminViaSocket(ctx context.Context, sock string, cmd []string, stdout, stderr io.Writer) (code int, ok bool) {
	if _, err := os.Stat(sock); err != nil {
		return 0, false
	}
	dialer := &net.Dialer{Timeout: adminDialTimeout}
	probe, err := dialer.DialContext(ctx, "unix", sock)
	if err != nil {
		return 0, false // a stale socket: standalone is not running
	}
	_ = probe.Close()
	client := &http.Client{Timeout: adminSocketTimeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dialer.DialContext(ctx, "unix", sock) },
	}}
	defer client.CloseIdleConnections()
	body, err := json.Marshal(adminRequest{Args: cmd})
	if err != nil {
		fmt.Fprintln(stderr, "brisk admin:", err)
		return exitFailed, true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://brisk-standalone/v1/command", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(stderr, "brisk admin:", err)
		return exitFailed, true
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "brisk admin: running standalone at %s: %v\n", sock, err)
		return exitFailed, true
	}
	defer resp.Body.Close()
	var res adminResponse
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		fmt.Fprintf(stderr, "brisk admin: running standalone at %s answered %s: %s\n", sock, resp.Status, bytes.TrimSpace(msg))
		return exitFailed, true
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, adminMaxBody)).Decode(&res); err != nil {
		fmt.Fprintf(stderr, "brisk admin: running standalone at %s: %v\n", sock, err)
		return exitFailed, true
	}
	_, _ = io.WriteString(stdout, res.Stdout)
	_, _ = io.WriteString(stderr, res.Stderr)
	return res.Exit, true
}
