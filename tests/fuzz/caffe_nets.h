/* Deploy nets the caffemodel fuzz target loads weights into, and the seed generator writes
   caffemodels for: a tiny one (conv 3x2x3x3, ReLU, max pool, fc 4x12, Softmax) and Caffe's LeNet
   (whose real caffemodels in ../shared/caffe seed the fuzzer when present). */
#ifndef XAI_FUZZ_CAFFE_NETS_H
#define XAI_FUZZ_CAFFE_NETS_H
static const char fuzz_tiny_prototxt[] =
    "name: \"tiny\"\n"
    "input: \"data\"\n"
    "input_dim: 1 input_dim: 2 input_dim: 6 input_dim: 6\n"
    "layer { name: \"conv\" type: \"Convolution\" bottom: \"data\" top: \"conv\" convolution_param { num_output: 3 kernel_size: 3 } }\n"
    "layer { name: \"relu\" type: \"ReLU\" bottom: \"conv\" top: \"conv\" }\n"
    "layer { name: \"pool\" type: \"Pooling\" bottom: \"conv\" top: \"pool\" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
    "layer { name: \"fc\" type: \"InnerProduct\" bottom: \"pool\" top: \"fc\" inner_product_param { num_output: 4 } }\n"
    "layer { name: \"prob\" type: \"Softmax\" bottom: \"fc\" top: \"prob\" }\n";

static const char fuzz_lenet_prototxt[] =
    "name: \"LeNet\"\n"
    "input: \"data\"\n"
    "input_dim: 1 input_dim: 1 input_dim: 28 input_dim: 28\n"
    "layer { name: \"conv1\" type: \"Convolution\" bottom: \"data\" top: \"conv1\" convolution_param { num_output: 20 kernel_size: 5 stride: 1 } }\n"
    "layer { name: \"pool1\" type: \"Pooling\" bottom: \"conv1\" top: \"pool1\" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
    "layer { name: \"conv2\" type: \"Convolution\" bottom: \"pool1\" top: \"conv2\" convolution_param { num_output: 50 kernel_size: 5 stride: 1 } }\n"
    "layer { name: \"pool2\" type: \"Pooling\" bottom: \"conv2\" top: \"pool2\" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
    "layer { name: \"ip1\" type: \"InnerProduct\" bottom: \"pool2\" top: \"ip1\" inner_product_param { num_output: 500 } }\n"
    "layer { name: \"relu1\" type: \"ReLU\" bottom: \"ip1\" top: \"ip1\" }\n"
    "layer { name: \"ip2\" type: \"InnerProduct\" bottom: \"ip1\" top: \"ip2\" inner_product_param { num_output: 10 } }\n"
    "layer { name: \"prob\" type: \"Softmax\" bottom: \"ip2\" top: \"prob\" }\n";
#endif
