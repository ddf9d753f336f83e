# ephkey board entry point: starts the role(s) and transport(s) named in
# ephkey_board.json with the pairing in ephkey_pairing.json.
from ephkey.runtime import main

main()
