import v8 from 'node:v8';

/**
 * V8 settings for the whole process, applied when this module is evaluated: it is main.ts's
 * first import, so before any archive is read.
 *
 * Concurrent ArrayBuffer sweeping off: a read streams a gigabyte through short-lived 64 KiB
 * buffers (decrypted age chunks, inflater output). With the sweeper on its own thread, V8
 * counts freed backing stores as live until that thread catches up, so the old generation looks
 * full and it starts full collections back to back: 30-80 per GB of encrypted archive (and, on a
 * loaded machine, of plain ones too) instead of 1-3. Swept on the main thread, the bytes are
 * released at once. Measured: README "Performance".
 */
v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
