/**
 * Where the VM lab finds Debian's kernel: the cache `deploy/vm/fetch-kernel.sh` fills
 * (run by `deploy/install.sh --test`), one folder per kernel version holding the unpacked
 * package — `boot/vmlinux-<v>` (booted, through PVH), `lib/modules/<v>` (with the
 * modules.dep that depmod wrote; the guest bind-mounts it over its /lib/modules/<v>).
 *
 * A folder counts only once its `.complete` marker exists (the fetch writes it last), so a
 * fetch that died half-way is never booted. Without `--kernel` the newest version wins.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

/** The Debian package the kernel comes from, named in every error about it. */
export const KERNEL_PACKAGE = "linux-image-amd64";

export interface CachedKernel {
  version: string;
  /** The uncompressed kernel (ELF with a PVH entry note). */
  vmlinux: string;
  /** lib/modules/<version> of the unpacked package. */
  modulesDir: string;
}

export function vmCacheRoot(): string {
  return process.env["SWARMNET_VM_CACHE"] ?? "/var/cache/swarmnet/vm";
}

/** Complete kernel versions in the cache, newest first (version order, e.g. 6.1.0-57 > 6.1.0-9). */
export function cachedKernelVersions(root = vmCacheRoot()): string[] {
  const dir = join(root, "kernels");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((v) => existsSync(join(dir, v, ".complete")))
    .sort((a, b) => b.localeCompare(a, "en", { numeric: true }));
}

/** The kernel to boot: `version` if given (it must be cached), else the newest one. */
export function resolveKernel(version: string | undefined, root = vmCacheRoot()): CachedKernel {
  const versions = cachedKernelVersions(root);
  if (versions.length === 0) {
    throw new SwarmnetError(
      ErrorCode.ToolMissing,
      `no Debian kernel for VM nodes in ${join(root, "kernels")} (package ${KERNEL_PACKAGE}; deploy/install.sh --test fetches it)`,
    );
  }
  const chosen = version ?? versions[0];
  if (chosen === undefined || !versions.includes(chosen)) {
    throw new SwarmnetError(
      ErrorCode.NotFound,
      `unknown kernel version ${JSON.stringify(version)}: the VM lab has ${versions.join(", ")} (from ${KERNEL_PACKAGE})`,
    );
  }
  const base = join(root, "kernels", chosen);
  return {
    version: chosen,
    vmlinux: join(base, "boot", `vmlinux-${chosen}`),
    modulesDir: join(base, "lib", "modules", chosen),
  };
}
