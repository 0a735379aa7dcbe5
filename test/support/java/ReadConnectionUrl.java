import java.io.File;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Document;
import org.w3c.dom.NamedNodeMap;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * Parses each XML file named on the command line with the JDK's DocumentBuilder (external DTDs
 * not fetched: the network is closed and JBoss does not need them) and prints one JSON line per
 * file: {"file": F, "ok": true, "connectionUrls": [text, ...], "nodes": [...]} where nodes lists
 * every element (path, attributes, own text), comment and the DOCTYPE, in document order, so a
 * test can check that only the connection URL changed; or {"file": F, "ok": false, "error": "..."}.
 * Run: java ReadConnectionUrl.java FILE...
 */
public class ReadConnectionUrl {
    public static void main(String[] args) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
        factory.setValidating(false);
        factory.setNamespaceAware(false);
        StringBuilder out = new StringBuilder();
        for (String file : args) {
            out.append("{\"file\":").append(json(file));
            try {
                DocumentBuilder builder = factory.newDocumentBuilder();
                Document doc = builder.parse(new File(file));
                NodeList urls = doc.getElementsByTagName("connection-url");
                out.append(",\"ok\":true,\"connectionUrls\":[");
                for (int i = 0; i < urls.getLength(); i++) {
                    if (i > 0) out.append(',');
                    out.append(json(urls.item(i).getTextContent()));
                }
                out.append("],\"nodes\":[");
                StringBuilder nodes = new StringBuilder();
                walk(doc, "", nodes);
                out.append(nodes.length() > 0 ? nodes.substring(1) : "");
                out.append("]}\n");
            } catch (Exception e) {
                out.append(",\"ok\":false,\"error\":").append(json(e.toString())).append("}\n");
            }
        }
        System.out.print(out);
        System.out.flush();
    }

    static void walk(Node node, String path, StringBuilder out) {
        for (Node child = node.getFirstChild(); child != null; child = child.getNextSibling()) {
            switch (child.getNodeType()) {
                case Node.DOCUMENT_TYPE_NODE:
                    out.append(",").append(json("doctype " + child.getNodeName()));
                    break;
                case Node.COMMENT_NODE:
                    out.append(",").append(json("comment " + path + " " + child.getNodeValue()));
                    break;
                case Node.ELEMENT_NODE: {
                    String childPath = path + "/" + child.getNodeName();
                    StringBuilder text = new StringBuilder();
                    for (Node t = child.getFirstChild(); t != null; t = t.getNextSibling()) {
                        if (t.getNodeType() == Node.TEXT_NODE || t.getNodeType() == Node.CDATA_SECTION_NODE) text.append(t.getNodeValue());
                    }
                    StringBuilder attrs = new StringBuilder();
                    NamedNodeMap map = child.getAttributes();
                    for (int i = 0; i < map.getLength(); i++) {
                        attrs.append(' ').append(map.item(i).getNodeName()).append('=').append(map.item(i).getNodeValue());
                    }
                    out.append(",").append(json("element " + childPath + attrs + " text=" + text.toString().trim()));
                    walk(child, childPath, out);
                    break;
                }
                default:
                    break;
            }
        }
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
