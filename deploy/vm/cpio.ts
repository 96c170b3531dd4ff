/**
 * A writer for the "newc" cpio format (the one the kernel unpacks as an initramfs:
 * Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte
 * ASCII header of 13 hex fields, the NUL-terminated name padded to 4 bytes, the data
 * padded to 4 bytes; a `TRAILER!!!` entry ends the archive. Written here rather than
 * shelling out to `cpio` so the lab needs one Debian package less and the archive is a
 * pure function of its entries.
 */
export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Buffer; mode?: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "chardev"; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(fields: number[]): string {
  return "070701" + fields.map((f) => f.toString(16).padStart(8, "0")).join("");
}

function record(ino: number, path: string, mode: number, data: Buffer, rdev = [0, 0]): Buffer {
  const name = Buffer.from(path + "\0");
  const h = Buffer.from(
    header([ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0] ?? 0, rdev[1] ?? 0, name.length, 0]),
  );
  return Buffer.concat([
    h,
    name,
    Buffer.alloc(pad4(h.length + name.length)),
    data,
    Buffer.alloc(pad4(data.length)),
  ]);
}

/** The archive; paths are relative ("bin/busybox"), parents listed before children. */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts = entries.map((e, i) => {
    const ino = i + 1;
    switch (e.kind) {
      case "dir":
        return record(ino, e.path, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0));
      case "file":
        return record(ino, e.path, S_IFREG | (e.mode ?? 0o644), e.data);
      case "symlink":
        return record(ino, e.path, S_IFLNK | 0o777, Buffer.from(e.target));
      case "chardev":
        return record(ino, e.path, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), [e.major, e.minor]);
    }
  });
  parts.push(record(0, "TRAILER!!!", 0, Buffer.alloc(0)));
  return Buffer.concat(parts);
}
