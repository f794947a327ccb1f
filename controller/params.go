package controller

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// param returns a path parameter, unescaped.
func param(c echo.Context, name string) string {
	v := c.Param(name)
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// queryBool parses a boolean query parameter as upstream does
// (true|yes|on|1 / false|no|off|0).
func queryBool(c echo.Context, name string, def bool) (bool, error) {
	v, ok := c.QueryParams()[name]
	if !ok || len(v) == 0 {
		return def, nil
	}
	switch strings.ToLower(v[0]) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, api.BadRequest("The query parameter '%s' was malformed:\n'%s' is not a valid Boolean value", name, v[0])
}

const (
	defaultListLimit = 30
	maxListLimit     = 200
)

// listQuery parses skip and limit for a collection with upstream's messages,
// wrapped as a malformed query parameter the way upstream's routing does.
func listQuery(c echo.Context, collection string) (store.ListQuery, error) {
	q, param, err := parseListQuery(c, collection)
	if e, ok := api.AsError(err); ok {
		e.Message = "The query parameter '" + param + "' was malformed:\n" + e.Message
	}
	return q, err
}

func parseListQuery(c echo.Context, collection string) (store.ListQuery, string, error) {
	q := store.ListQuery{Limit: defaultListLimit}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return q, "limit", api.BadRequest("The value '%s' is not an integer for %s.", v, collection)
		}
		if n < 0 || n > maxListLimit {
			return q, "limit", api.BadRequest("The value '%d' is not in the range of 0 to %d for %s.", n, maxListLimit, collection)
		}
		if n == 0 {
			n = maxListLimit
		}
		q.Limit = n
	}
	if v := c.QueryParam("skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return q, "skip", api.BadRequest("The value '%s' is not an integer for %s.", v, collection)
		}
		if n < 0 {
			return q, "skip", api.BadRequest("The value '%d' is not greater than or equal to 0 for %s.", n, collection)
		}
		q.Skip = n
	}
	return q, "", nil
}
