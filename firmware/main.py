# ephkey's board program, on the application API (README, "The firmware API").
# ephkey_board.json names the role(s) and the transport: run_board checks it
# and the pairing file, builds each role's station, opens its link and runs
# program() for it. A first station echoes every payload back; a second one
# sends the board file's numbered messages and checks each echo. Replace this
# file with a program of your own: examples/sensor/ holds one.
import ephkey


async def program(board, role, link, station):
    if role == "first":
        from ephkey.echo_app import EchoApp

        echo = EchoApp()
        await ephkey.serve(link, None, echo.handler, station=station,
                           on_event=echo.on_event, on_error=echo.on_error)
    else:
        from ephkey.exchange_app import ExchangeApp

        exchange = ExchangeApp.from_board(board.app)
        client = ephkey.Client(link, None, station=station, on_event=exchange.on_event)
        await exchange.run(client)
        await client.wait()  # the link stays up after the exchanges, as a board's does


ephkey.run_board(program)
