package host

// Reason says why a request failed, in one word or two: the access log's
// `reason` field, the reason label of the rejections metric, and what
// makes the router answer with an error page. The empty Reason is a
// request that did not fail. Every Reason is in the failure-reasons table
// of the command's manual (a test in cmd/wasigate checks that the table
// and these constants agree).
type Reason string

// The reasons the CGI handler gives (this package).
const (
	ReasonBody     Reason = "body"     // request body too large or too slow: 413, 408
	ReasonRequest  Reason = "request"  // a request that cannot be passed to a guest (%00 in the path): 400
	ReasonTimeout  Reason = "timeout"  // the guest still ran at its deadline: 504
	ReasonClient   Reason = "client"   // the client went away; the guest was stopped
	ReasonCrash    Reason = "crash"    // a trap, a Rust panic: 502
	ReasonExit     Reason = "exit"     // the guest exited non-zero: 502
	ReasonMemory   Reason = "memory"   // the guest failed after a refused memory.grow: 502
	ReasonOutput   Reason = "output"   // stdout past max_output: response aborted
	ReasonInvalid  Reason = "invalid"  // the guest's CGI response is not valid: 502
	ReasonRedirect Reason = "redirect" // too many internal redirects: 500
	ReasonSendfile Reason = "sendfile" // an X-Sendfile path refused: 502
)

// The reasons the router gives, before or around the CGI handler.
const (
	ReasonAborted     Reason = "aborted"      // the response was aborted without another reason
	ReasonPanic       Reason = "panic"        // a handler panicked: 500
	ReasonFraming     Reason = "framing"      // both Content-Length and Transfer-Encoding: 400
	ReasonHost        Reason = "host"         // Host refused (HTTP/2 host against :authority, absolute-form target): 400
	ReasonURI         Reason = "uri"          // request target past max_uri: 414
	ReasonNoRoute     Reason = "no route"     // no route serves the path: 404
	ReasonRate        Reason = "rate"         // a tenant past its request rate: 429
	ReasonConcurrency Reason = "concurrency"  // no free instance slot within queue_timeout: 503
	ReasonNoScript    Reason = "no script"    // no script of a scripts folder by that name: 404
	ReasonMethod      Reason = "method"       // a method other than GET or HEAD on a static file: 405
	ReasonSource      Reason = "source"       // a script or source asked for as a static file: 404
	ReasonLink        Reason = "link"         // a link out of the folder or to a hidden name: 404
	ReasonSpecial     Reason = "special file" // a FIFO, device or socket asked for as a file: 404
	ReasonBuilding    Reason = "building"     // the script still building, or its interpreter's snapshot taken again after an edit, at the request's timeout: 503
	ReasonBuild       Reason = "build"        // the script's build failed: 500
	ReasonTooLarge    Reason = "too large"    // a module past max_module_size: 500
	ReasonToolchain   Reason = "toolchain"    // no interpreter or compiler installed for the script: 500
	ReasonLoad        Reason = "load"         // a WSGI application failed to load: 500
)
