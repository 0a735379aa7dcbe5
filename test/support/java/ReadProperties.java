import java.io.FileInputStream;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;

/**
 * Reads each .properties file named on the command line with java.util.Properties.load(InputStream)
 * (ISO-8859-1, exactly as CUPM reads dfc.properties) and prints one JSON line per file:
 * {"file": F, "ok": true, "properties": [[key, value], ...]} sorted by key, or
 * {"file": F, "ok": false, "error": "..."}. Non-ASCII chars are \\uXXXX-escaped so the output is ASCII.
 * Run: java ReadProperties.java FILE...
 */
public class ReadProperties {
    public static void main(String[] args) throws Exception {
        StringBuilder out = new StringBuilder();
        for (String file : args) {
            out.append("{\"file\":").append(json(file));
            try (InputStream in = new FileInputStream(file)) {
                Properties properties = new Properties();
                properties.load(in);
                List<String> keys = new ArrayList<>(properties.stringPropertyNames());
                Collections.sort(keys);
                out.append(",\"ok\":true,\"properties\":[");
                for (int i = 0; i < keys.size(); i++) {
                    if (i > 0) out.append(',');
                    String key = keys.get(i);
                    out.append('[').append(json(key)).append(',').append(json(properties.getProperty(key))).append(']');
                }
                out.append("]}\n");
            } catch (Exception e) {
                out.append(",\"ok\":false,\"error\":").append(json(e.toString())).append("}\n");
            }
        }
        System.out.print(out);
        System.out.flush();
    }

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
}
