module github.com/wasigate/wasigate

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/go-chi/chi/v5 v5.5.0
	github.com/mattn/go-isatty v0.0.20
	github.com/rs/zerolog v1.35.1
	github.com/tetratelabs/wazero v1.12.0
	golang.org/x/sys v0.49.0
)

require (
	github.com/fsnotify/fsnotify v1.10.1 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
)
