# hello.py: the smallest Python CGI script (samples/python/README.md).
import sys

print("Content-Type: text/plain; charset=utf-8")
print()
print("hello from Python", sys.version.split()[0])
