// liftguard load-cell bridge: four HX711 -> binary frames over USB serial.
//
// Reference sketch for an RP2040 board (Arduino-Pico core) or any Arduino-class board with
// native USB. Library: "HX711" by Bogdan Necula (bogde/HX711), from the Library Manager.
// Wire protocol: docs/loadcell-protocol.md (version 1, 32-byte frames, CRC-16/CCITT-FALSE).
//
// Wiring: each HX711 has its own DOUT and SCK pin (the library clocks one chip at a time, so
// the chips must not share SCK). Tie every HX711's RATE pin high for 80 samples/s.
// Channel order is fixed: 0 front-left, 1 front-right, 2 rear-left, 3 rear-right.

#include <Arduino.h>
#include "HX711.h"

static const uint8_t NUM_CELLS = 4;
static const uint8_t DOUT_PINS[NUM_CELLS] = {2, 4, 6, 8};
static const uint8_t SCK_PINS[NUM_CELLS]  = {3, 5, 7, 9};

// A channel that has no new sample this long after the previous frame is reported as timed
// out (its count repeats the last good value). One HX711 period at 80 Hz is 12.5 ms.
static const uint32_t FRAME_DEADLINE_US = 20000;

static const uint8_t  SYNC0 = 0xA5, SYNC1 = 0x5A;
static const uint8_t  PROTOCOL_VERSION = 1;
static const uint8_t  PAYLOAD_SIZE = 26;
static const uint8_t  FRAME_SIZE = 32;
static const int32_t  COUNT_MAX = 8388607;    // 0x7FFFFF
static const int32_t  COUNT_MIN = -8388608;   // 0x800000 sign-extended
static const uint16_t STATUS_BOOT = 1u << 8;
static const uint16_t STATUS_TX_OVERFLOW = 1u << 9;

HX711 cells[NUM_CELLS];
int32_t lastCounts[NUM_CELLS];
bool fresh[NUM_CELLS];
uint32_t seq = 0;               // wraps at 2^32, as the host expects
uint32_t frameStartUs = 0;
bool droppedSinceLastSent = false;

// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0 ("123456789" -> 0x29B1).
uint16_t crc16CcittFalse(const uint8_t *data, size_t len) {
  uint16_t crc = 0xFFFF;
  for (size_t i = 0; i < len; i++) {
    crc ^= (uint16_t)data[i] << 8;
    for (uint8_t bit = 0; bit < 8; bit++) {
      crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
  }
  return crc;
}

static void putU16(uint8_t *p, uint16_t v) {
  p[0] = v & 0xFF;
  p[1] = v >> 8;
}

static void putU32(uint8_t *p, uint32_t v) {
  p[0] = v & 0xFF;
  p[1] = (v >> 8) & 0xFF;
  p[2] = (v >> 16) & 0xFF;
  p[3] = v >> 24;
}

// Bits 0-3: channel timed out; bits 4-7: channel at the end of the HX711 range.
static uint16_t channelStatus() {
  uint16_t status = 0;
  for (uint8_t i = 0; i < NUM_CELLS; i++) {
    if (!fresh[i]) status |= 1u << i;
    if (lastCounts[i] == COUNT_MAX || lastCounts[i] == COUNT_MIN) status |= 1u << (4 + i);
  }
  return status;
}

static void buildFrame(uint8_t *frame, uint32_t tUs, uint16_t status) {
  frame[0] = SYNC0;
  frame[1] = SYNC1;
  frame[2] = PROTOCOL_VERSION;
  frame[3] = PAYLOAD_SIZE;
  putU32(frame + 4, seq);
  putU32(frame + 8, tUs);
  for (uint8_t i = 0; i < NUM_CELLS; i++) {
    putU32(frame + 12 + 4 * i, (uint32_t)lastCounts[i]);  // two's complement, little-endian
  }
  putU16(frame + 28, status);
  putU16(frame + 30, crc16CcittFalse(frame, 30));
}

// Sends the current sample set. If the USB buffer cannot take a whole frame, the frame is
// dropped rather than blocking sampling; seq still advances so the host sees the gap.
static void emitFrame(uint32_t nowUs) {
  uint16_t status = channelStatus();
  if (seq == 0) status |= STATUS_BOOT;
  if (droppedSinceLastSent) status |= STATUS_TX_OVERFLOW;

  uint8_t frame[FRAME_SIZE];
  buildFrame(frame, nowUs, status);
  if (Serial.availableForWrite() >= FRAME_SIZE) {
    Serial.write(frame, FRAME_SIZE);
    droppedSinceLastSent = false;
  } else {
    droppedSinceLastSent = true;
  }
  seq++;
}

void setup() {
  Serial.begin(115200);  // ignored by USB CDC; used when a hardware UART carries the frames
  for (uint8_t i = 0; i < NUM_CELLS; i++) {
    cells[i].begin(DOUT_PINS[i], SCK_PINS[i], 128);  // channel A, gain 128
    lastCounts[i] = 0;
    fresh[i] = false;
  }
  frameStartUs = micros();
}

void loop() {
  bool allFresh = true;
  for (uint8_t i = 0; i < NUM_CELLS; i++) {
    if (!fresh[i] && cells[i].is_ready()) {
      lastCounts[i] = cells[i].read();  // returns at once: the chip is ready
      fresh[i] = true;
    }
    allFresh = allFresh && fresh[i];
  }

  uint32_t nowUs = micros();
  if (allFresh || (uint32_t)(nowUs - frameStartUs) >= FRAME_DEADLINE_US) {
    emitFrame(nowUs);
    for (uint8_t i = 0; i < NUM_CELLS; i++) fresh[i] = false;
    frameStartUs = nowUs;
  }
}
