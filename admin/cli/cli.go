// Package cli is `brisk admin`: it manages users (subjects, their
// namespaces and keys) and namespace limits, as upstream's wskadmin does,
// with its commands, options, messages and exit codes (0 done, 1 failed, 2
// bad arguments). The operations are package admin's; this package parses
// wskadmin's arguments into admin's typed requests, picks where the store
// is, and prints the results.
//
// Where the store is:
//
//   - --couchdb URL: CouchDB, directly. Running controllers see the change at
//     once when --kafka names their brokers (the change is announced on the
//     cacheInvalidation topic), otherwise within their cache TTL (1 minute).
//   - --data-dir DIR (default $BRISK_DATA_DIR or ~/.brisk): the embedded
//     store DIR/brisk.db. A running `brisk standalone` holds that file's
//     lock, so admin then sends the operation to it over the unix socket
//     DIR/admin.sock (mode 0600, served only to the data directory's owner,
//     who can read the keys in brisk.db anyway); standalone runs it on its
//     store and evicts what changed from its caches at once (a standalone
//     on --couchdb serves the socket too, so admin reaches its CouchDB).
//     With no standalone running, admin opens the file itself.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/admin"
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

Run 'brisk admin user create --help' (and so on) for the options of a command.

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
	adminTimeout    = 30 * time.Second // one whole command
	adminLockWait   = 500 * time.Millisecond
	adminSocketName = "admin.sock"
	adminInstanceID = "admin"
	notFoundDetail  = `{"error":"not_found","reason":"missing"}`
)

// Main is `brisk admin` with args (after "admin"); it returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	home, _ := os.UserHomeDir()
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	couch := fs.String("couchdb", "", "CouchDB `URL`, http(s)://[user:password@]host:port")
	prefix := fs.String("db-prefix", "", "database name prefix `P`, as given to brisk standalone (default whisk_local_)")
	kafkaBrokers := fs.String("kafka", "", "with --couchdb: Kafka `BROKERS` (host:port,...) to announce changes to running controllers")
	dataDir := fs.String("data-dir", envOr("BRISK_DATA_DIR", filepath.Join(home, ".brisk")), "the data directory `DIR` of brisk standalone")
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
	if fs.NArg() == 0 {
		fs.Usage()
		return exitBadArgs
	}
	cmd, code, ok := parseAdminCommand(fs.Args(), stderr)
	if !ok {
		return code
	}
	out := &printer{out: stdout, errOut: stderr}
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
		var notify func(...messaging.CacheKey)
		if *kafkaBrokers != "" {
			producer := messaging.NewProducer(strings.Split(*kafkaBrokers, ","), messaging.ProducerOptions{SendTimeout: 10 * time.Second})
			defer producer.Close()
			notify = func(keys ...messaging.CacheKey) { announce(ctx, producer, keys, stderr) }
		}
		return cmd.run(ctx, admin.New(st, notify), out)
	}

	sock := filepath.Join(*dataDir, adminSocketName)
	client, err := admin.Dial(ctx, sock)
	switch {
	case err == nil:
		defer client.Close()
		return cmd.run(ctx, client, out)
	case !errors.Is(err, admin.ErrNoServer):
		fmt.Fprintln(stderr, "brisk admin:", err)
		return exitFailed
	}
	// No standalone serves the socket: open the store.
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
	return cmd.run(ctx, admin.New(st, nil), out)
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

// Serve serves admin operations on DIR/admin.sock while standalone
// holds the store: each runs on st, and what it changed is passed to
// invalidate (the controller's caches and the cacheInvalidation topic). The
// returned function stops serving, waits for the operations in flight and
// removes the socket. A socket that cannot be created is logged, not fatal:
// admin then reports the locked store.
func Serve(dataDir string, st *store.Store, invalidate func(...messaging.CacheKey), log *slog.Logger) (stop func()) {
	path := filepath.Join(dataDir, adminSocketName)
	srv, err := admin.Listen(path, admin.New(st, invalidate), log)
	if err != nil {
		log.Warn("admin socket not served; `brisk admin` works only while standalone is stopped", "path", path, "err", err)
		return func() {}
	}
	return func() {
		if err := srv.Close(); err != nil {
			log.Warn("admin socket", "err", err)
		}
	}
}

// --- printing ---------------------------------------------------------------

// printer prints a command's results and messages.
type printer struct {
	out, errOut io.Writer
}

func (p *printer) println(format string, args ...any) { fmt.Fprintf(p.out, format+"\n", args...) }

func (p *printer) fail(format string, args ...any) int {
	fmt.Fprintf(p.errOut, format+"\n", args...)
	return exitFailed
}

func (p *printer) badArgs(format string, args ...any) int {
	fmt.Fprintf(p.errOut, format+"\n", args...)
	return exitBadArgs
}

// detail is what wskadmin prints in parentheses after a failure of the
// store: CouchDB's answer.
func detail(err error) string {
	if errors.Is(err, admin.ErrNotFound) {
		return notFoundDetail
	}
	var se *admin.StoreError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}

// report prints the failure of an operation as wskadmin does and returns
// the exit code.
func (p *printer) report(err error) int {
	var (
		ve *admin.ValidationError
		ne *admin.NamespaceNotFoundError
		se *admin.StoreError
	)
	switch {
	case errors.As(err, &ve):
		return p.badArgs("%s", ve.Msg)
	case errors.Is(err, admin.ErrNamespaceExists):
		return p.fail("Namespace already exists")
	case errors.Is(err, admin.ErrSubjectBlocked):
		return p.fail("The subject you want to edit is blocked")
	case errors.As(err, &ne):
		return p.fail("Namespace %q does not exist for %q", ne.Namespace, ne.Subject)
	case errors.As(err, &se):
		return p.fail("Failed to %s (%s)", se.Op, detail(se.Err))
	}
	return p.fail("brisk admin: %v", err)
}

// --- parsing ----------------------------------------------------------------

// adminCommand is a parsed command: a typed request, run on ops.
type adminCommand interface {
	run(ctx context.Context, ops admin.Operations, p *printer) int
}

// parseAdminCommand parses cmd ("user create alice -ns space1", ...),
// before any store is opened. On failure it has printed why, and code is
// the exit code (exitOK for --help).
func parseAdminCommand(cmd []string, stderr io.Writer) (c adminCommand, code int, ok bool) {
	subs := map[string][]string{
		"user":   {"create", "delete", "get", "whois", "list", "block", "unblock"},
		"limits": {"set", "get", "delete"},
	}
	known, found := subs[cmd[0]]
	if !found {
		fmt.Fprintf(stderr, "brisk admin: unknown command %q (user or limits)\n", cmd[0])
		return nil, exitBadArgs, false
	}
	if len(cmd) < 2 || !slices.Contains(known, cmd[1]) {
		fmt.Fprintf(stderr, "brisk admin %s: want one of %s\n", cmd[0], strings.Join(known, ", "))
		return nil, exitBadArgs, false
	}
	args := cmd[2:]
	switch cmd[0] + " " + cmd[1] {
	case "user create":
		return parseUserCreate(args, stderr)
	case "user get":
		return parseUserGet(args, stderr)
	case "user delete":
		return parseUserDelete(args, stderr)
	case "user list":
		return parseUserList(args, stderr)
	case "user whois":
		return parseUserWhois(args, stderr)
	case "user block":
		return parseUserBlock(args, true, stderr)
	case "user unblock":
		return parseUserBlock(args, false, stderr)
	case "limits set":
		return parseLimitsSet(args, stderr)
	case "limits get":
		return parseLimitsGet(args, stderr)
	default: // "limits delete"
		return parseLimitsDelete(args, stderr)
	}
}

// commandFlags are the options of one command, with wskadmin's short and
// long names for each.
type commandFlags struct {
	*flag.FlagSet
	synopsis string
	// long maps a short name to its long one.
	long map[string]string
}

// newCommandFlags returns the options of the command synopsis
// ("user get SUBJECT [-ns NAMESPACE] [-a]"), named name in messages.
func newCommandFlags(name, synopsis string, stderr io.Writer) *commandFlags {
	f := &commandFlags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), synopsis: synopsis, long: map[string]string{}}
	f.SetOutput(stderr)
	f.Usage = f.usage
	return f
}

// alias makes --long another name of the option -short.
func (f *commandFlags) alias(short, long string) {
	fl := f.Lookup(short)
	f.Var(fl.Value, long, fl.Usage)
	f.long[short] = long
}

// usage prints the synopsis and the options, an option's names on one
// line with the name of its value ("-ns, --namespace NAMESPACE"), taken from
// the back-quoted word of its usage.
func (f *commandFlags) usage() {
	w := f.Output()
	fmt.Fprintf(w, "usage: %s\n", f.synopsis)
	aliases := map[string]bool{}
	for _, l := range f.long {
		aliases[l] = true
	}
	f.VisitAll(func(fl *flag.Flag) {
		if aliases[fl.Name] {
			return
		}
		names := "-" + fl.Name
		if l, ok := f.long[fl.Name]; ok {
			names += ", --" + l
		} else if len(fl.Name) > 2 {
			names = "--" + fl.Name
		}
		value, usage := flag.UnquoteUsage(fl)
		if value != "" {
			names += " " + value
		}
		fmt.Fprintf(w, "  %s\n    \t%s", names, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if def := fl.DefValue; def != "" && def != "false" && def != "0" {
			fmt.Fprintf(w, " (default %s)", def)
		}
		fmt.Fprintln(w)
	})
}

// isSet reports whether any of the named options was given.
func (f *commandFlags) isSet(names ...string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) {
		if slices.Contains(names, fl.Name) {
			set = true
		}
	})
	return set
}

// parse parses options placed anywhere among the positional arguments, as
// wskadmin's argparse does, and checks the count of positional arguments
// (want; -1: at least one). Values of the options named in multi may be
// given as several arguments (--allowedKinds nodejs:20 python:3.11).
func (f *commandFlags) parse(args []string, want int, multi ...string) ([]string, int, bool) {
	var pos, flat []string
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
		if err := f.Parse(flat); err != nil {
			// flag printed the error.
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitBadArgs, false
		}
		rest := f.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		flat = rest[1:]
	}
	if (want < 0 && len(pos) == 0) || (want >= 0 && len(pos) != want) {
		fmt.Fprintf(f.Output(), "usage: %s\n", f.synopsis)
		return nil, exitBadArgs, false
	}
	return pos, exitOK, true
}

// --- user create ------------------------------------------------------------

type userCreate struct {
	req    admin.CreateUserRequest
	silent bool
}

func parseUserCreate(args []string, stderr io.Writer) (adminCommand, int, bool) {
	f := newCommandFlags("user create", "user create SUBJECT [-ns NAMESPACE] [-u UUID:KEY] [-r] [-f] [-g] [-s]", stderr)
	var c userCreate
	f.StringVar(&c.req.Auth, "u", "", "the `UUID:KEY` to initialize the subject authorization key with")
	f.alias("u", "auth")
	f.StringVar(&c.req.Namespace, "ns", "", "create key for given `NAMESPACE` instead (defaults to subject id)")
	f.alias("ns", "namespace")
	f.BoolVar(&c.req.Revoke, "r", false, "revoke the current authorization key and generate a new key")
	f.alias("r", "revoke")
	f.BoolVar(&c.req.Force, "f", false, "force update an existing subject authorization uuid:key")
	f.alias("f", "force")
	f.BoolVar(&c.req.GenOnly, "g", false, "generate a uuid and key but do not store them")
	f.alias("g", "genonly")
	f.BoolVar(&c.silent, "s", false, "do not show the new key")
	f.alias("s", "silent")
	pos, code, ok := f.parse(args, 1)
	if !ok {
		return nil, code, false
	}
	c.req.Subject = pos[0]
	if f.isSet("ns", "namespace") && c.req.Namespace == "" {
		// An empty Namespace is the subject's own: an empty one given is
		// an error, as a blank one is.
		c.req.Namespace = " "
	}
	return &c, exitOK, true
}

func (c *userCreate) run(ctx context.Context, ops admin.Operations, p *printer) int {
	cred, err := ops.CreateUser(ctx, c.req)
	if err != nil {
		return p.report(err)
	}
	if !c.silent || c.req.GenOnly {
		p.println("%s", cred)
	}
	return exitOK
}

// --- user get ---------------------------------------------------------------

type userGet struct {
	subject   string
	namespace string // "": the subject's own
	all       bool
}

func parseUserGet(args []string, stderr io.Writer) (adminCommand, int, bool) {
	f := newCommandFlags("user get", "user get SUBJECT [-ns NAMESPACE] [-a]", stderr)
	var c userGet
	f.StringVar(&c.namespace, "ns", "", "the `NAMESPACE` to get the key for, defaults to subject id")
	f.alias("ns", "namespace")
	f.BoolVar(&c.all, "a", false, "list all namespaces and their keys")
	f.alias("a", "all")
	pos, code, ok := f.parse(args, 1)
	if !ok {
		return nil, code, false
	}
	c.subject = pos[0]
	if !f.isSet("ns", "namespace") {
		c.namespace = c.subject
	}
	return &c, exitOK, true
}

func (c *userGet) run(ctx context.Context, ops admin.Operations, p *printer) int {
	u, err := ops.GetUser(ctx, c.subject)
	if err != nil {
		return p.report(err)
	}
	if c.all {
		for _, ns := range u.Namespaces {
			p.println("%s\t%s:%s", ns.Name, ns.UUID, ns.Key)
		}
		return exitOK
	}
	ns, ok := u.Namespace(c.namespace)
	if !ok {
		return p.fail("namespace %q not found for %q", c.namespace, c.subject)
	}
	p.println("%s:%s", ns.UUID, ns.Key)
	return exitOK
}

// --- user delete ------------------------------------------------------------

type userDelete struct {
	subject, namespace string
	nsOnly             bool
}

func parseUserDelete(args []string, stderr io.Writer) (adminCommand, int, bool) {
	f := newCommandFlags("user delete", "user delete SUBJECT [-ns NAMESPACE]", stderr)
	var c userDelete
	f.StringVar(&c.namespace, "ns", "", "delete key for given `NAMESPACE` only")
	f.alias("ns", "namespace")
	pos, code, ok := f.parse(args, 1)
	if !ok {
		return nil, code, false
	}
	c.subject = pos[0]
	c.nsOnly = f.isSet("ns", "namespace")
	return &c, exitOK, true
}

func (c *userDelete) run(ctx context.Context, ops admin.Operations, p *printer) int {
	if !c.nsOnly {
		if err := ops.DeleteUser(ctx, c.subject); err != nil {
			return p.report(err)
		}
		p.println("Subject deleted")
		return exitOK
	}
	if err := ops.DeleteNamespace(ctx, c.subject, c.namespace); err != nil {
		return p.report(err)
	}
	p.println("Namespace deleted")
	return exitOK
}

// --- user list --------------------------------------------------------------

type userList struct {
	req      admin.ListUsersRequest
	keysOnly bool
}

func parseUserList(args []string, stderr io.Writer) (adminCommand, int, bool) {
	f := newCommandFlags("user list", "user list NAMESPACE [-p N] [-a] [-k]", stderr)
	var c userList
	var pick int
	var all bool
	f.IntVar(&pick, "p", 1, "show no more than `N` identities")
	f.alias("p", "pick")
	f.BoolVar(&all, "a", false, "show all identities")
	f.alias("a", "all")
	f.BoolVar(&c.keysOnly, "k", false, "show only the keys")
	f.alias("k", "key")
	pos, code, ok := f.parse(args, 1)
	if !ok {
		return nil, code, false
	}
	if pick < 1 {
		fmt.Fprintln(stderr, "pick at least 1 identity to show")
		return nil, exitBadArgs, false
	}
	c.req = admin.ListUsersRequest{Namespace: pos[0], Limit: pick}
	if all {
		c.req.Limit = 0
	}
	return &c, exitOK, true
}

func (c *userList) run(ctx context.Context, ops admin.Operations, p *printer) int {
	ids, err := ops.ListUsers(ctx, c.req)
	if err != nil {
		return p.report(err)
	}
	if len(ids) == 0 {
		p.println("no identities found for namespace %q", c.req.Namespace)
		return exitOK
	}
	for _, id := range ids {
		if c.keysOnly {
			p.println("%s:%s", id.UUID, id.Key)
		} else {
			p.println("%s:%s\t%s", id.UUID, id.Key, id.Subject)
		}
	}
	return exitOK
}

// --- user whois -------------------------------------------------------------

type userWhois struct{ auth string }

func parseUserWhois(args []string, stderr io.Writer) (adminCommand, int, bool) {
	pos, code, ok := newCommandFlags("user whois", "user whois UUID:KEY", stderr).parse(args, 1)
	if !ok {
		return nil, code, false
	}
	return &userWhois{auth: pos[0]}, exitOK, true
}

func (c *userWhois) run(ctx context.Context, ops admin.Operations, p *printer) int {
	id, err := ops.Whois(ctx, c.auth)
	switch {
	case errors.Is(err, admin.ErrNotFound):
		p.println("Subject id is not recognized")
		return exitOK
	case err != nil:
		return p.report(err)
	}
	p.println("subject: %s", id.Subject)
	p.println("namespace: %s", id.Namespace)
	return exitOK
}

// --- user block / unblock ---------------------------------------------------

type userBlock struct {
	subjects []string
	block    bool
}

func parseUserBlock(args []string, block bool, stderr io.Writer) (adminCommand, int, bool) {
	verb := "block"
	if !block {
		verb = "unblock"
	}
	pos, code, ok := newCommandFlags("user "+verb, "user "+verb+" SUBJECT...", stderr).parse(args, -1)
	if !ok {
		return nil, code, false
	}
	return &userBlock{subjects: pos, block: block}, exitOK, true
}

// run blocks or unblocks each subject; the exit code counts the failures.
func (c *userBlock) run(ctx context.Context, ops admin.Operations, p *printer) int {
	verb, op := "block", ops.Block
	if !c.block {
		verb, op = "unblock", ops.Unblock
	}
	failed := 0
	for _, subject := range c.subjects {
		subject = strings.TrimSpace(subject)
		if subject == "" {
			continue
		}
		err := op(ctx, subject)
		var se *admin.StoreError
		switch {
		case err == nil:
			p.println("%q %sed successfully", subject, verb)
		case errors.As(err, &se):
			fmt.Fprintf(p.errOut, "Failed to %s %q (%s)\n", verb, subject, detail(se.Err))
			failed++
		default:
			return p.report(err)
		}
	}
	return failed
}

// --- limits -----------------------------------------------------------------

// limitUsage describes each limit in `limits set --help`.
var limitUsage = map[string]string{
	"invocationsPerMinute":  "at most `N` invocations per minute",
	"firesPerMinute":        "at most `N` trigger fires per minute",
	"concurrentInvocations": "at most `N` activations running at once",
	"allowedKinds":          "the only action kinds allowed: one or more `KIND...`",
	"storeActivations":      "whether activation records are stored (`true|false`)",
	"minActionMemory":       "least memory an action may ask for, in `MB`",
	"maxActionMemory":       "most memory an action may ask for, in `MB`",
	"minActionLogs":         "least log size an action may ask for, in `MB`",
	"maxActionLogs":         "most log size an action may ask for, in `MB`",
	"minActionTimeout":      "least timeout an action may ask for, in `MS`",
	"maxActionTimeout":      "most timeout an action may ask for, in `MS`",
	"minActionConcurrency":  "least concurrency an action may ask for (`N` activations in one container)",
	"maxActionConcurrency":  "most concurrency an action may ask for (`N` activations in one container)",
	"maxParameterSize":      "most size of an entity's parameters, a `SIZE` such as \"1 MB\"",
	"maxPayloadSize":        "most size of an invoke's payload, a `SIZE` such as \"1 MB\"",
	"truncationSize":        "`SIZE` at which a record's result is truncated, such as \"1 MB\"",
}

type limitsSet struct{ req admin.SetLimitsRequest }

func parseLimitsSet(args []string, stderr io.Writer) (adminCommand, int, bool) {
	f := newCommandFlags("limits set", "limits set NAMESPACE [--invocationsPerMinute N] [--concurrentInvocations N] [--firesPerMinute N] ...", stderr)
	given := map[string]*string{}
	var c limitsSet
	fields := admin.LimitFields(&c.req.Limits)
	for _, lf := range fields {
		given[lf.Name] = f.String(lf.Name, "", limitUsage[lf.Name])
	}
	pos, code, ok := f.parse(args, 1, "allowedKinds")
	if !ok {
		return nil, code, false
	}
	c.req.Namespace = pos[0]
	if err := admin.CheckNamespace(c.req.Namespace); err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitBadArgs, false
	}
	byName := map[string]any{}
	for _, lf := range fields {
		byName[lf.Name] = lf.Field
	}
	var bad string
	f.Visit(func(fl *flag.Flag) {
		if bad != "" {
			return
		}
		v := *given[fl.Name]
		switch p := byName[fl.Name].(type) {
		case **int:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				bad = fmt.Sprintf("--%s: want a non-negative integer, got %q", fl.Name, v)
			}
			*p = &n
		case **bool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad = fmt.Sprintf("--%s: want true or false, got %q", fl.Name, v)
			}
			*p = &b
		case **string:
			*p = &v
		case *[]string:
			*p = strings.FieldsFunc(v, func(r rune) bool { return r == ',' })
			if len(*p) == 0 {
				bad = fmt.Sprintf("--%s: want one or more kinds", fl.Name)
			}
		}
	})
	if bad != "" {
		fmt.Fprintln(stderr, bad)
		return nil, exitBadArgs, false
	}
	return &c, exitOK, true
}

func (c *limitsSet) run(ctx context.Context, ops admin.Operations, p *printer) int {
	if err := ops.SetLimits(ctx, c.req); err != nil {
		return p.report(err)
	}
	p.println("Limits successfully set for %q", c.req.Namespace)
	return exitOK
}

type limitsGet struct{ namespace string }

func parseLimitsGet(args []string, stderr io.Writer) (adminCommand, int, bool) {
	pos, code, ok := newCommandFlags("limits get", "limits get NAMESPACE", stderr).parse(args, 1)
	if !ok {
		return nil, code, false
	}
	return &limitsGet{namespace: pos[0]}, exitOK, true
}

func (c *limitsGet) run(ctx context.Context, ops admin.Operations, p *printer) int {
	l, err := ops.GetLimits(ctx, c.namespace)
	switch {
	case errors.Is(err, admin.ErrNotFound):
		p.println("No limits found, default system limits apply")
		return exitOK
	case err != nil:
		return p.report(err)
	}
	for _, lf := range admin.LimitFields(&l) {
		switch v := lf.Field.(type) {
		case **int:
			if *v != nil {
				p.println("%s = %d", lf.Name, **v)
			}
		case **bool:
			if *v != nil {
				p.println("%s = %t", lf.Name, **v)
			}
		case **string:
			if *v != nil {
				p.println("%s = %s", lf.Name, **v)
			}
		case *[]string:
			if *v != nil {
				p.println("%s = %s", lf.Name, strings.Join(*v, ", "))
			}
		}
	}
	return exitOK
}

type limitsDelete struct{ namespace string }

func parseLimitsDelete(args []string, stderr io.Writer) (adminCommand, int, bool) {
	pos, code, ok := newCommandFlags("limits delete", "limits delete NAMESPACE", stderr).parse(args, 1)
	if !ok {
		return nil, code, false
	}
	return &limitsDelete{namespace: pos[0]}, exitOK, true
}

func (c *limitsDelete) run(ctx context.Context, ops admin.Operations, p *printer) int {
	if err := ops.DeleteLimits(ctx, c.namespace); err != nil {
		return p.report(err)
	}
	p.println("Limits deleted")
	return exitOK
}

// envOr is the value of the environment variable key, or def when it is
// unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
