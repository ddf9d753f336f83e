// Included into every C file of the emulated board's build (-include).
#ifndef EMU_PORT_H
#define EMU_PORT_H

int uart_rx_any(void);

// An idle VM (select.poll, asyncio, time.sleep, the REPL waiting for a key)
// sleeps in WFI until the next interrupt: the SysTick (1 ms) or a byte on the
// console UART (the `emu` module turns that interrupt on). QEMU then sleeps
// too, so an idle emulated board costs the host almost no CPU. Interrupts are
// masked around the check so that a byte arriving just before WFI still wakes it.
#define MICROPY_INTERNAL_WFE(TIMEOUT_MS) do { \
        __asm volatile ("cpsid i" : : : "memory"); \
        if (!uart_rx_any()) { \
            __asm volatile ("wfi"); \
        } \
        __asm volatile ("cpsie i" : : : "memory"); \
} while (0)

#endif
