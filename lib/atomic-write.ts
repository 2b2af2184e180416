// Writing a small text file (a report, a config, an annotation list) so that it appears complete or not at all, as
// native/checkpoint/atomic_file_writer.cc does for checkpoints: the text goes to a temporary file in the target's
// own folder (a rename is atomic within one file system), which is flushed to disk and renamed over the target; on
// any failure the temporary file is removed and the target is left as it was. A run killed mid-write therefore
// leaves the previous epoch's curves, never half of them.
//
// Not the write-file-atomic package: its current major (8) requires Node 22.22 while vitorch admits 22.12
// (.ci/check-engines.js would refuse it), and what is needed here is these few lines.
import * as fs from 'fs';
import * as path from 'path';

let counter = 0;

/** A temporary name beside `file`, unique within this process and across processes. */
function temporaryFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${counter++}`);
}

/** Writes `data` to `file` atomically (synchronously). Errors are fs's own, naming the temporary or target file. */
export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const temporary = temporaryFor(file);
  try {
    const fd = fs.openSync(temporary, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}

/** writeFileAtomicSync off the main thread. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const temporary = temporaryFor(file);
  try {
    const handle = await fs.promises.open(temporary, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temporary, file);
  } catch (error) {
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
}
