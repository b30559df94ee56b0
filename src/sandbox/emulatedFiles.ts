/**
 * Files through Slack's upload flow: files.getUploadURLExternal reserves an id, the bytes are POSTed to
 * the upload URL, and files.completeUploadExternal names the file and shares it.
 */

export interface EmulatedFile {
  id: string;
  filename: string;
  /** The filename until files.completeUploadExternal gives a title, as in Slack. */
  title: string;
  content: string;
  /** Where it was shared; unset while the file is private. */
  channel?: string;
  threadTs?: string;
}

export class FileStore {
  /** Ids handed out by files.getUploadURLExternal whose bytes have not arrived: id → filename. */
  private readonly reserved = new Map<string, string>();
  private readonly uploaded = new Map<string, EmulatedFile>();
  private count = 0;

  reserve(filename: string): string {
    this.count += 1;
    const id = `F${String(this.count).padStart(8, '0')}`;
    this.reserved.set(id, filename);
    return id;
  }

  /** Stores the bytes POSTed to a reserved id's upload URL; false unless the id awaits its bytes. */
  receive(id: string, content: string): boolean {
    const filename = this.reserved.get(id);
    if (filename === undefined) return false;
    this.reserved.delete(id);
    this.uploaded.set(id, { id, filename, title: filename, content });
    return true;
  }

  /**
   * Titles the files and records where they were shared (nowhere without a channel), all or none:
   * `file_not_found` if any id is unknown or its bytes never arrived.
   */
  complete(
    entries: Array<{ id: string; title?: string }>,
    channel: string | undefined,
    threadTs: string | undefined,
  ): EmulatedFile[] | { error: string } {
    const files = entries.map((e) => this.uploaded.get(e.id));
    if (files.some((f) => f === undefined)) return { error: 'file_not_found' };
    return files.map((file, i) =>
      Object.assign(file!, {
        title: entries[i]!.title || file!.filename,
        ...(channel ? { channel, ...(threadTs ? { threadTs } : {}) } : {}),
      }),
    );
  }

  all(): EmulatedFile[] {
    return [...this.uploaded.values()];
  }
}
