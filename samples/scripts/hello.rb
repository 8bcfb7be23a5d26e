# hello.rb - a Ruby CGI script, run by ruby.wasm (see wasigate.toml's
# [[interpreter]]). The standard library's cgi parses the query string or
# the POSTed form (from stdin) and the cookies, and writes the header block.
require "cgi"

cgi = CGI.new
name = cgi["name"].empty? ? "world" : cgi["name"]
visits = cgi.cookies["visits"].first.to_i + 1

print cgi.header(
  "type" => "text/html",
  "charset" => "utf-8",
  "cookie" => [CGI::Cookie.new("name" => "visits", "value" => visits.to_s, "path" => ENV["SCRIPT_NAME"])]
)
print <<~HTML
  <!DOCTYPE html>
  <html lang="en">
  <head><meta charset="utf-8"><title>hello.rb</title></head>
  <body>
  <h1>Hello, #{CGI.escapeHTML(name)}, from Ruby #{RUBY_VERSION}</h1>
  <p>Visit number #{visits} (a cookie counts them).</p>
  <form method="post">
    <label>Your name <input name="name" value="#{CGI.escapeHTML(cgi["name"])}"></label>
    <button>Send</button>
  </form>
  <p>#{CGI.escapeHTML(ENV["REQUEST_METHOD"])} #{CGI.escapeHTML(ENV["SCRIPT_NAME"])}, argv #{CGI.escapeHTML($0)}</p>
  </body>
  </html>
HTML
