// Command quotes calls an API over outbound HTTP and renders what it
// returns. It is an ordinary Go program: http.Client with the
// RoundTripper of its package wasihttp, which goes through the host's
// wasi_experimental_http functions. The package sits in this folder
// because a build sees only the script's own folder, the module cache
// and the toolchain; copy it into a script's folder to use it. The host allows only the hosts the
// route's allowed_hosts lists; here the sample site's own stub API.
package main

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"time"

	"github.com/wasigate/wasigate/samples/outbound/quotes/wasihttp"
)

type quote struct {
	Text   string `json:"text"`
	Author string `json:"author"`
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Quotes</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto">
<h1>Quotes</h1>
<p>Fetched from <code>{{.URL}}</code> in {{.Took}} through wasi_experimental_http.</p>
{{range .Quotes}}<blockquote><p>{{.Text}}</p><footer>{{.Author}}</footer></blockquote>
{{end}}</body></html>
`))

func main() {
	url := os.Getenv("API_URL")
	client := &http.Client{Transport: wasihttp.Transport{}, Timeout: 5 * time.Second}
	start := time.Now()
	res, err := client.Get(url)
	if err != nil {
		// A refusal (wasihttp.ErrDestinationNotAllowed) lands here too.
		fmt.Printf("Status: 502 Bad Gateway\nContent-Type: text/plain\n\ncalling %s: %v\n", url, err)
		return
	}
	defer res.Body.Close()
	var quotes []quote
	if err := json.NewDecoder(res.Body).Decode(&quotes); err != nil || res.StatusCode != http.StatusOK {
		fmt.Printf("Status: 502 Bad Gateway\nContent-Type: text/plain\n\n%s answered %s: %v\n", url, res.Status, err)
		return
	}
	fmt.Print("Content-Type: text/html; charset=utf-8\n\n")
	page.Execute(os.Stdout, map[string]any{"URL": url, "Took": time.Since(start).Round(time.Microsecond), "Quotes": quotes})
}
