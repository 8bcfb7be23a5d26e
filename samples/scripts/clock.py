# clock.py: the time in a few cities, with the standard library's zoneinfo
# and Debian's pytz. Both read the time zone database from
# /usr/share/zoneinfo, which the sample interpreter mounts read-only from
# the dist (samples/wasigate.toml; samples/python/README.md).
import datetime
import zoneinfo

import pytz

now = datetime.datetime.now(datetime.timezone.utc)
print("Content-Type: text/plain; charset=utf-8")
print()
for city in ("Europe/Paris", "America/New_York", "Asia/Tokyo"):
    here = now.astimezone(zoneinfo.ZoneInfo(city))
    print("%-17s %s" % (city, here.isoformat(timespec="seconds")))
paris = now.astimezone(pytz.timezone("Europe/Paris"))
print("pytz %s %s" % (pytz.__version__, paris.strftime("%Z %z")))
