import java.io.BufferedInputStream;
import java.io.FileInputStream;
import java.security.MessageDigest;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

/**
 * Reads a ZIP the streaming way, front to back, with java.util.zip.ZipInputStream: local headers,
 * deflated data and data descriptors, never the central directory. One JSON line per entry:
 * {"name": ..., "size": <bytes read>, "sha256": ...}; an exception is printed as {"error": ...}.
 */
public class ReadZipStream {
  public static void main(String[] args) throws Exception {
    try (ZipInputStream in = new ZipInputStream(new BufferedInputStream(new FileInputStream(args[0]), 1 << 20))) {
      byte[] buffer = new byte[1 << 20];
      ZipEntry entry;
      while ((entry = in.getNextEntry()) != null) {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        long size = 0;
        int n;
        while ((n = in.read(buffer)) > 0) {
          sha.update(buffer, 0, n);
          size += n;
        }
        StringBuilder hex = new StringBuilder();
        for (byte b : sha.digest()) hex.append(String.format("%02x", b));
        System.out.println("{\"name\": \"" + entry.getName() + "\", \"size\": " + size + ", \"sha256\": \"" + hex + "\"}");
      }
    } catch (Exception e) {
      System.out.println("{\"error\": \"" + String.valueOf(e).replace("\\", "\\\\").replace("\"", "\\\"") + "\"}");
    }
  }
}
