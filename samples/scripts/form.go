//go:build ignore

// form.go shows how a CGI program receives a POSTed form without net/http:
// the body is on stdin, CONTENT_LENGTH says how many bytes to read and
// CONTENT_TYPE says how they are encoded. GET shows the form; POST echoes
// the fields back, HTML-escaped.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

// maxBody bounds what we are willing to read; CONTENT_LENGTH comes from
// the client, so it must not decide how much memory we allocate.
const maxBody = 1 << 20

// field is one submitted form value; a slice of them keeps the order.
type field struct{ name, value string }

const form = `<form method="post">
<p><label>Name <input name="name" value="Ada"></label></p>
<p><label>Email <input name="email" type="email" value="ada@example.com"></label></p>
<p><label>Message<br><textarea name="message" rows="4" cols="40">Some &lt;b&gt;HTML&lt;/b&gt; &amp; it comes back escaped</textarea></label></p>
<p><label>File (sent only as multipart) <input name="upload" type="file"></label></p>
<p><button>Send URL-encoded</button>
<button formenctype="multipart/form-data">Send multipart</button></p>
</form>
`

func main() {
	switch m := os.Getenv("REQUEST_METHOD"); m {
	case "GET", "HEAD":
		page("Form", form)
	case "POST":
		fields, err := readForm()
		if err != nil {
			// A "Status:" header tells the host which HTTP status to send.
			fmt.Printf("Status: 400 Bad Request\nContent-Type: text/plain; charset=utf-8\n\n%v\n", err)
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "<p>Received %d field(s) as <code>%s</code>:</p>\n<dl>\n",
			len(fields), html.EscapeString(os.Getenv("CONTENT_TYPE")))
		for _, f := range fields {
			// Everything that came from the client is escaped before it
			// goes into the page.
			fmt.Fprintf(&b, "<dt>%s</dt><dd><pre>%s</pre></dd>\n",
				html.EscapeString(f.name), html.EscapeString(f.value))
		}
		b.WriteString("</dl>\n<h2>Again?</h2>\n" + form)
		page("Form result", b.String())
	default:
		fmt.Printf("Status: 405 Method Not Allowed\nAllow: GET, HEAD, POST\nContent-Type: text/plain\n\n%s not allowed\n", m)
	}
}

// page writes a complete CGI response with an HTML body.
func page(title, body string) {
	fmt.Print("Content-Type: text/html; charset=utf-8\n\n")
	fmt.Printf("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title></head>\n<body>\n<h1>%s</h1>\n%s</body></html>\n",
		title, title, body)
}

// readForm reads exactly CONTENT_LENGTH bytes of body from stdin and
// decodes them according to CONTENT_TYPE.
func readForm() ([]field, error) {
	// RFC 3875: with no body, CONTENT_LENGTH is unset (same as 0).
	n := int64(0)
	if s := os.Getenv("CONTENT_LENGTH"); s != "" {
		var err error
		if n, err = strconv.ParseInt(s, 10, 64); err != nil || n < 0 {
			return nil, fmt.Errorf("bad CONTENT_LENGTH %q", s)
		}
	}
	if n > maxBody {
		return nil, fmt.Errorf("body too large: %d bytes (limit %d)", n, maxBody)
	}
	// Read no more than announced: stdin is not guaranteed to end there.
	body := make([]byte, n)
	if _, err := io.ReadFull(os.Stdin, body); err != nil {
		return nil, fmt.Errorf("reading body: %v", err)
	}

	mediaType, params, err := mime.ParseMediaType(os.Getenv("CONTENT_TYPE"))
	if err != nil {
		return nil, fmt.Errorf("bad CONTENT_TYPE: %v", err)
	}
	switch mediaType {
	case "application/x-www-form-urlencoded":
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		// url.Values is a map; sort the names for a stable page.
		var fields []field
		for _, name := range slices.Sorted(maps.Keys(values)) {
			for _, v := range values[name] {
				fields = append(fields, field{name, v})
			}
		}
		return fields, nil
	case "multipart/form-data":
		return readMultipart(bytes.NewReader(body), params["boundary"])
	default:
		return nil, fmt.Errorf("unsupported CONTENT_TYPE %q", mediaType)
	}
}

// readMultipart walks the parts in order. File parts are summarised
// (name and size) rather than echoed.
func readMultipart(r io.Reader, boundary string) ([]field, error) {
	if boundary == "" {
		return nil, errors.New("multipart body without boundary")
	}
	var fields []field
	mr := multipart.NewReader(r, boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return fields, nil
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, err
		}
		value := string(data)
		if part.FileName() != "" {
			value = fmt.Sprintf("file %q, %d bytes, %s", part.FileName(), len(data), part.Header.Get("Content-Type"))
		}
		fields = append(fields, field{part.FormName(), value})
	}
}
