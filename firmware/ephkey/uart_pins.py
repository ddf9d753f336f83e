"""Which UART ids and pins each chip can use, from MicroPython's port sources
(v1.28.0).

``check(port, mcu, board, uid, tx, rx)`` returns None or a message saying
what is wrong and what would do. Each port's rules are in a module of their
own, loaded (and shipped, tools/closure.py) only for that port:
uart_pins_rp2.py, uart_pins_esp32.py, uart_pins_stm32.py.
"""


def check(port, mcu, board, uid, tx=None, rx=None):
    """None if UART uid with these pins works on the chip, else why not."""
    if port == "rp2":
        from .uart_pins_rp2 import check as rules
    elif port == "esp32":
        from .uart_pins_esp32 import check as rules
    elif port == "stm32":
        from .uart_pins_stm32 import check as rules
    else:
        return "port %r: no UART rules for it" % (port,)
    return rules(mcu, board, uid, tx, rx)


def _pins(ps):
    return ", ".join(str(p) for p in ps)


def pick(txs, rxs, where, tx, rx):
    """None if tx is one of the TX pins txs and rx one of the RX pins rxs of
    ``where`` (a UART of a chip), else why not."""
    if tx is not None and tx == rx:
        return "uart.tx and uart.rx are both GPIO %r" % (tx,)
    if tx not in txs:
        return "uart.tx %r: not a TX pin of %s (one of %s)" % (tx, where, _pins(txs))
    if rx not in rxs:
        return "uart.rx %r: not an RX pin of %s (one of %s)" % (rx, where, _pins(rxs))
    return None
