# ephkey board entry point. ephkey_board.json names the role(s), transport and
# application; runtime.main checks it and the pairing file, then runs the
# applications of ephkey/apps.py on the ephkey API, as any program would:
#   first station:  await ephkey.serve(link, pairings, EchoApp().handler)
#   second station: await ExchangeApp(...).run(ephkey.Client(link, pairing))
# A program of your own replaces this file: examples/sensor/ shows one.
from ephkey.runtime import main

main()
