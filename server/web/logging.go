package web

// Log lines may carry only these attributes. The list is short on purpose:
// never a client's address, user agent, codename, passphrase, TOTP code or
// answer. A test reads every slog call of the server packages (web,
// witness, investigator) and fails on another key.
var allowedLogKeys = map[string]bool{
	"err":      true, // an internal error, never built from request data
	"item":     true, // an item id
	"kind":     true,
	"size":     true,
	"account":  true, // investigator account name (investigator site only)
	"event":    true,
	"listener": true,
	"addr":     true, // our own listening address, never a client's
	"count":    true,
	"status":   true,
	"route":    true, // route name, never the raw URL
	"stack":    true, // function names and source lines of a panic, never its value
}
